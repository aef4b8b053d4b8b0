package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// PermanentError is an error retrying cannot fix (so far only a rejected
// record PostgreSQL refused even as a stand-in, see writeItems). What else
// the batch held is stored.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// isDataError reports whether err is PostgreSQL refusing the data (SQLSTATE
// class 22 data exception, 23 integrity constraint violation, 54 program
// limit exceeded). Every other error — network, timeouts, class 08, 40
// (serialization, deadlock), 53 (too many connections), 57 (admin shutdown,
// query canceled), 42 (schema missing: run the migrations) — is transient:
// the batch is retried as a whole, which is idempotent.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 || isLedgerRace(err) {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// isLedgerRace reports whether err is the ledger's primary key
// (analytics_event_ids_pkey, on (product, event_id) since migration 006,
// which kept its name) refusing a (product, id) stored before: one the
// batch copied without looking it up, or one a
// concurrent transaction committed between our look-up and our COPY (a
// COPY has no ON CONFLICT, and INSERT … ON CONFLICT would write a
// speculative-insertion record per row). Not a data error: a re-run with
// the look-up skips the id.
func isLedgerRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "analytics_event_ids_pkey"
}

// copyError wraps a COPY error; when it names a row, the row's index in
// events goes with it (rowError) for writeItems to isolate it.
func copyError(what string, events []eventRow, fresh []int32, err error) error {
	err = fmt.Errorf("store: "+what+": %w", len(fresh), err)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		if i := copyErrorRow(pgErr, len(fresh)); i >= 0 {
			return &rowError{index: int(fresh[i]), err: err}
		}
	}
	return err
}

// goesOn reports whether writing the rest of a batch goes on after err: nil
// or a PermanentError (one record lost, not the batch).
func goesOn(err error) bool {
	if err == nil {
		return true
	}
	_, ok := errors.AsType[*PermanentError](err)
	return ok
}

// copyErrorRow returns the 0-based index of the row a COPY error names
// ("COPY <table>, line <n>, ..."), or -1.
func copyErrorRow(pgErr *pgconn.PgError, n int) int {
	const copyMarker, lineMarker = "COPY ", ", line "
	w := pgErr.Where
	i := strings.Index(w, copyMarker)
	if i < 0 {
		return -1
	}
	w = w[i+len(copyMarker):]
	i = strings.Index(w, lineMarker)
	if i < 0 {
		return -1
	}
	w = w[i+len(lineMarker):]
	j := 0
	for j < len(w) && w[j] >= '0' && w[j] <= '9' {
		j++
	}
	line, err := strconv.Atoi(w[:j])
	if err != nil || line < 1 || line > n {
		return -1
	}
	return line - 1
}

// rowError is a PostgreSQL error a COPY raised on one row, with the row's
// index in the events of the batch.
type rowError struct {
	index int
	err   error
}

func (e *rowError) Error() string { return e.err.Error() }
func (e *rowError) Unwrap() error { return e.err }

// errorRow returns the index of the event row err is about, or -1.
func errorRow(err error) int {
	if re, ok := errors.AsType[*rowError](err); ok {
		return re.index
	}
	return -1
}

package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// The ingest-integrity tests: event ids per product, duplicate_conflict,
// rejected rows deduplicated by content, bounded raw forms.

// rejRow is one row of analytics_rejected_events (raw apart).
type rejRow struct {
	Reason, Field, Message      string
	EventName, Product, EventID *string
	EventTime                   *time.Time
	RawSize                     int64
	RawSHA256                   []byte
	RawTruncated                bool
	DedupKey                    []byte
}

// rejected reads the rejected table in insertion order, and the raw forms.
func (e *env) rejected(t testing.TB) ([]rejRow, [][]byte) {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT reason, field, message, event_name, product, event_id, event_time,
		raw_size, raw_sha256, raw_truncated, dedup_key, raw FROM analytics_rejected_events ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []rejRow
	var raws [][]byte
	for rows.Next() {
		var r rejRow
		var raw []byte
		require.NoError(t, rows.Scan(&r.Reason, &r.Field, &r.Message, &r.EventName, &r.Product, &r.EventID, &r.EventTime,
			&r.RawSize, &r.RawSHA256, &r.RawTruncated, &r.DedupKey, &raw))
		if r.EventTime != nil {
			u := r.EventTime.UTC()
			r.EventTime = &u
		}
		out = append(out, r)
		raws = append(raws, raw)
	}
	require.NoError(t, rows.Err())
	return out, raws
}

func ptr[T any](v T) *T { return &v }

func sum256(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// logRecords returns every record of ld in order.
func logRecords(ld plog.Logs) []plog.LogRecord {
	var out []plog.LogRecord
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				out = append(out, lrs.At(k))
			}
		}
	}
	return out
}

// bytesAttr returns a bytes attribute of lr (fails the test if absent).
func bytesAttr(t testing.TB, lr plog.LogRecord, key string) []byte {
	t.Helper()
	v, ok := lr.Attributes().Get(key)
	require.True(t, ok, key)
	require.Equal(t, pcommon.ValueTypeBytes, v.Type(), key)
	return v.Bytes().AsRaw()
}

func hash16(s string) []byte { return sum256([]byte(s))[:16] }

// setHash replaces (or, with nil, removes) the content hash of every record
// of ld, as a processor with other hashes (or none) would have set it.
func setHash(ld plog.Logs, h []byte) plog.Logs {
	for _, lr := range logRecords(ld) {
		if h == nil {
			lr.Attributes().Remove(catalog.AttrContentHash)
		} else {
			lr.Attributes().PutEmptyBytes(catalog.AttrContentHash).FromRaw(h)
		}
	}
	return ld
}

// rawAttrs decodes a stored raw form and returns its one record's attributes.
func rawAttrs(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	var u plog.JSONUnmarshaler
	ld, err := u.UnmarshalLogs(raw)
	require.NoError(t, err)
	require.Equal(t, 1, ld.LogRecordCount())
	return logRecords(ld)[0].Attributes().AsRaw()
}

func keyOf(reason, product, id string, content []byte) []byte {
	k := rejectKey(reason, product, id, content)
	return k[:]
}

// TestEventIDsArePerProduct: two products that send the same event.id both
// have their event stored and counted, whichever comes first and whether the
// store looks ids up first or copies straight away.
func TestEventIDsArePerProduct(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	chat := rec{name: "session.start", product: "ai_chatbot", id: "shared-1", at: ts("2025-12-03T01:00:00Z"), attrs: map[string]any{"session_id": "s1"}}
	desk := rec{
		name: "agent.session_takeover", product: "agent_workbench", id: "shared-1", at: ts("2025-12-03T02:00:00Z"),
		attrs: map[string]any{"agent_id": "a1", "session_id": "s1", "wait_duration_seconds": 3.0},
	}
	chat2, desk2 := chat, desk
	chat2.id, desk2.id = "shared-2", "shared-2"

	// One product's id first, then the other's, each through a fresh store
	// (no look-up: the ledger's key decides).
	res, err := e.store().Write(ctx, normalised(t, chat))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1}, res)
	res, err = e.store().Write(ctx, normalised(t, desk))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1}, res, "another product's id is not a duplicate")

	// Both in one batch, through a store that looks ids up first.
	s := e.store()
	s.probeFirst.Store(probeAfterConflict)
	res, err = s.Write(ctx, normalised(t, chat2, desk2))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 2}, res)

	// Resent: all four known, per product.
	for _, st := range []*Store{s, e.store()} {
		res, err = st.Write(ctx, normalised(t, chat, desk, chat2, desk2))
		require.NoError(t, err)
		assert.Equal(t, Result{Duplicates: 4}, res)
	}

	rows, err := e.pool.Query(ctx, `SELECT product || '/' || event_id || '/' || event_name FROM analytics_events ORDER BY 1`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{
		"agent_workbench/shared-1/agent.session_takeover", "agent_workbench/shared-2/agent.session_takeover",
		"ai_chatbot/shared-1/session.start", "ai_chatbot/shared-2/session.start",
	}, got)
	assert.Equal(t, 4, e.count(t, `SELECT count(*) FROM analytics_event_ids`))
	want := []counters.Row{
		row("2025-12-03", "", "agent.session_takeover", 2, 2, 6_000_000, 0),
		row("2025-12-03", "", "session.start", 2, 0, 0, 0),
		row("2025-12-03", "a1", "agent.session_takeover", 2, 2, 6_000_000, 0),
	}
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-12-03"))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))
}

// TestExactResendIsDuplicate: the same event (normalised again, as after a
// resend through the pipeline) is a silent duplicate, by the look-up and by
// the ledger's key; the ledger keeps the normaliser's content hash.
func TestExactResendIsDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := rec{
		name: "ticket.closed", product: "agent_workbench", id: "t-1", at: ts("2025-12-04T03:00:00Z"),
		attrs: map[string]any{"ticket_id": "t1", "agent_id": "a1", "resolution_duration_hours": 1.5, "sla_met": true},
	}
	ld := normalised(t, r)
	hash := bytesAttr(t, logRecords(ld)[0], catalog.AttrContentHash)
	require.Len(t, hash, 16)

	s := e.store()
	res, err := s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1}, res)
	for i, st := range []*Store{e.store(), s, s} { // a fresh store copies and meets the key; then s looks up
		res, err := st.Write(ctx, normalised(t, r))
		require.NoError(t, err)
		assert.Equal(t, Result{Duplicates: 1}, res, "resend %d", i+1)
	}
	var stored []byte
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT content_hash FROM analytics_event_ids WHERE product = 'agent_workbench' AND event_id = 't-1'`).Scan(&stored))
	assert.Equal(t, hash, stored)
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_events`))
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))
	want := []counters.Row{
		row("2025-12-04", "", "ticket.closed", 1, 1, 1_500_000, 1),
		row("2025-12-04", "a1", "ticket.closed", 1, 1, 1_500_000, 1),
	}
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-12-04"))
}

// TestDuplicateConflict: an id stored before, sent with other content (the
// normaliser's content hash differs), keeps the stored event and lands in the
// rejected table as duplicate_conflict, once however often it is resent.
func TestDuplicateConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	orig := rec{name: "session.start", product: "ai_chatbot", id: "dup-1", at: ts("2025-12-01T02:00:00Z"), attrs: map[string]any{"session_id": "s1"}}
	changed := orig
	changed.attrs = map[string]any{"session_id": "s2"}
	changed.at = ts("2025-12-05T02:00:00Z") // another business day: the event is not moved either

	res, err := e.store().Write(ctx, normalised(t, orig))
	require.NoError(t, err)
	require.Equal(t, Result{Inserted: 1}, res)

	ld := normalised(t, changed)
	hash := bytesAttr(t, logRecords(ld)[0], catalog.AttrContentHash)
	s := e.store() // fresh: copies, meets the ledger's key, runs again with the look-up
	conflict := Result{Conflicts: 1, Rejected: 1, RejectedByReason: map[string]int{"duplicate_conflict": 1}}
	for i := range 3 {
		res, err := s.Write(ctx, normalised(t, changed))
		require.NoError(t, err)
		assert.Equal(t, conflict, res, "push %d", i+1)
	}

	got, raws := e.rejected(t)
	assert.Equal(t, []rejRow{{
		Reason: "duplicate_conflict", Field: "event.id",
		Message: `event.id "dup-1" of product ai_chatbot was already stored with different content (first stored on business day 2025-12-01); ` +
			`the stored event is kept and counted once — send a new event.id for a new event`,
		EventName: ptr("session.start"), Product: ptr("ai_chatbot"), EventID: ptr("dup-1"), EventTime: ptr(ts("2025-12-05T02:00:00Z")),
		RawSize: int64(len(raws[0])), RawSHA256: sum256(raws[0]),
		DedupKey: keyOf("duplicate_conflict", "ai_chatbot", "dup-1", hash),
	}}, got)
	assert.Equal(t, map[string]any{"session_id": "s2", "event.id": "dup-1"}, rawAttrs(t, raws[0]))

	var session, day string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT session_id, business_date::text FROM analytics_events WHERE event_id = 'dup-1'`).Scan(&session, &day))
	assert.Equal(t, []string{"s1", "2025-12-01"}, []string{session, day}, "the stored event is kept")
	want := []counters.Row{row("2025-12-01", "", "session.start", 1, 0, 0, 0)}
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-12-01", "2025-12-05"))

	// A third content is a conflict of its own; the original again a duplicate.
	third := orig
	third.attrs = map[string]any{"session_id": "s3"}
	res, err = s.Write(ctx, normalised(t, third, orig))
	require.NoError(t, err)
	assert.Equal(t, Result{Duplicates: 1, Conflicts: 1, Rejected: 1, RejectedByReason: map[string]int{"duplicate_conflict": 1}}, res)
	assert.Equal(t, 2, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_events`))
}

// TestInBatchConflict: repeats of one id inside a batch. An exact repeat is
// a duplicate, another content a conflict of the first record; with the id
// in the ledger already, every repeat is judged against the stored content.
func TestInBatchConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a := rec{name: "session.start", product: "ai_chatbot", id: "b-1", at: ts("2025-12-01T02:00:00Z"), attrs: map[string]any{"session_id": "A"}}
	b, c := a, a
	b.attrs = map[string]any{"session_id": "B"}
	b.at = ts("2025-12-02T02:00:00Z")
	c.attrs = map[string]any{"session_id": "C"}
	other := rec{name: "session.start", product: "ai_chatbot", id: "b-2", at: ts("2025-12-01T03:00:00Z"), attrs: map[string]any{"session_id": "X"}}

	ldAB := normalised(t, a, b, a, b)
	hashB := bytesAttr(t, logRecords(ldAB)[1], catalog.AttrContentHash)
	res, err := e.store().Write(ctx, ldAB)
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1, Duplicates: 2, Conflicts: 1, Rejected: 1, RejectedByReason: map[string]int{"duplicate_conflict": 1}}, res)

	got, raws := e.rejected(t)
	require.Len(t, got, 1)
	assert.Equal(t, rejRow{
		Reason: "duplicate_conflict", Field: "event.id",
		Message: `event.id "b-1" of product ai_chatbot was already stored with different content (first stored on business day 2025-12-01); ` +
			`the stored event is kept and counted once — send a new event.id for a new event`,
		EventName: ptr("session.start"), Product: ptr("ai_chatbot"), EventID: ptr("b-1"), EventTime: ptr(ts("2025-12-02T02:00:00Z")),
		RawSize: int64(len(raws[0])), RawSHA256: sum256(raws[0]),
		DedupKey: keyOf("duplicate_conflict", "ai_chatbot", "b-1", hashB),
	}, got[0])
	assert.Equal(t, "B", rawAttrs(t, raws[0])["session_id"])

	// Now stored (A): a batch with C first, then A again, then B again. C
	// conflicts with the stored A, A is a duplicate (not a conflict of C),
	// B is the conflict stored already.
	// First through a fresh store (the ledger's key refuses the copy, the
	// batch runs again with the look-up), then through one that looks up.
	s := e.store()
	twoConflicts := map[string]int{"duplicate_conflict": 2}
	res, err = s.Write(ctx, normalised(t, c, other, a, b))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1, Duplicates: 1, Conflicts: 2, Rejected: 2, RejectedByReason: twoConflicts}, res)
	require.Equal(t, int32(probeAfterConflict), s.probeFirst.Load())
	res, err = s.Write(ctx, normalised(t, c, other, a, b))
	require.NoError(t, err)
	assert.Equal(t, Result{Duplicates: 2, Conflicts: 2, Rejected: 2, RejectedByReason: twoConflicts}, res)
	assert.Equal(t, 2, e.count(t, `SELECT count(*) FROM analytics_rejected_events`), "B once, C once")
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_rejected_events WHERE message LIKE '%business day 2025-12-01%' AND event_time = '2025-12-01T02:00:00Z'`), "C, against A's day")
	assert.Equal(t, []string{"A", "X"}, sessions(t, e))
	want := []counters.Row{row("2025-12-01", "", "session.start", 2, 0, 0, 0)}
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-12-01", "2025-12-02"))
}

func sessions(t testing.TB, e *env) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT session_id FROM analytics_events ORDER BY session_id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// TestUnknownContentHash: a record without analytics.event.content_hash
// (from a processor before content hashes), or a ledger row without one
// (stored before migration 006), is never a conflict; a hash of the wrong
// size is a broken contract.
func TestUnknownContentHash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	at := ts("2025-12-06T02:00:00Z")
	r := func(id, session string) rec {
		return rec{name: "session.start", product: "ai_chatbot", id: id, at: at, attrs: map[string]any{"session_id": session}}
	}

	// Stored without a hash: the ledger's content_hash is NULL.
	res, err := s.Write(ctx, setHash(normalised(t, r("u-1", "first")), nil))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1}, res)
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_event_ids WHERE event_id = 'u-1' AND content_hash IS NULL`))
	// Stored with a hash, then sent without.
	res, err = s.Write(ctx, setHash(normalised(t, r("u-2", "first")), hash16("first")))
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1}, res)

	for i, ld := range []plog.Logs{
		setHash(normalised(t, r("u-1", "other")), hash16("other")), // known, stored hash unknown
		setHash(normalised(t, r("u-2", "other")), nil),             // known, new hash unknown
		setHash(normalised(t, r("u-3", "x"), r("u-3", "y")), nil),  // in the batch, both unknown
	} {
		res, err = e.store().Write(ctx, ld)
		require.NoError(t, err)
		assert.Equal(t, 0, res.Conflicts, "case %d", i+1)
		assert.Equal(t, 1, res.Duplicates, "case %d", i+1)
	}
	// In the batch: first unknown, repeat known; the ledger (NULL for u-1)
	// decides, and so does the first when it is new (u-4).
	ld := normalised(t, r("u-1", "a"), r("u-1", "b"), r("u-4", "a"), r("u-4", "b"))
	lrs := logRecords(ld)
	lrs[0].Attributes().Remove(catalog.AttrContentHash)
	lrs[2].Attributes().Remove(catalog.AttrContentHash)
	res, err = s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1, Duplicates: 3}, res)
	assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))
	assert.Equal(t, []string{"a", "first", "first", "x"}, sessions(t, e))

	// A hash that is not 16 bytes.
	bad := setHash(normalised(t, r("u-5", "a")), []byte{1, 2, 3})
	res, err = s.Write(ctx, bad)
	require.NoError(t, err)
	assert.Equal(t, Result{Rejected: 1, RejectedByReason: map[string]int{"not_normalised": 1}}, res)
	assert.Equal(t, 1, e.count(t, `SELECT count(*) FROM analytics_rejected_events
		WHERE message = 'the eventcatalog processor must run before the analytics exporter (accepted record with an analytics.event.content_hash that is not 16 bytes)'`))
}

// TestRejectedResendStoredOnce: a rejected record resent is stored once, by
// its content, with or without an event id: by the processor's reject key,
// or by the store's own key when there is none.
func TestRejectedResendStoredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	at := ts("2025-12-07T02:00:00Z")
	// event.id of the wrong type: invalid_event_id, no usable id.
	badID := func() plog.Logs {
		ld := normalised(t, rec{name: "session.start", product: "ai_chatbot", at: at, attrs: map[string]any{"session_id": "s", "event.id": int64(42)}})
		return ld
	}
	noKey := func() plog.Logs {
		ld := normalised(t, rec{name: "no.such.event", product: "ai_chatbot", at: at, attrs: map[string]any{"k": "v"}})
		for _, lr := range logRecords(ld) {
			lr.Attributes().Remove(catalog.AttrRejectKey)
			lr.Attributes().Remove(catalog.AttrEventID)
		}
		return ld
	}
	unnormalised := func() plog.Logs {
		return wire(t, rec{name: "session.start", product: "ai_chatbot", at: at, attrs: map[string]any{"session_id": "s"}})
	}
	first := badID()
	lr := logRecords(first)[0]
	_, hasID := lr.Attributes().Get(catalog.AttrEventID)
	require.False(t, hasID)
	reason, _ := lr.Attributes().Get(catalog.AttrRejectReason)
	require.Equal(t, "invalid_event_id", reason.Str())
	key := bytesAttr(t, lr, catalog.AttrRejectKey)

	for i := range 3 {
		for _, ld := range []plog.Logs{badID(), noKey(), unnormalised()} {
			res, err := s.Write(ctx, ld)
			require.NoError(t, err)
			assert.Equal(t, 1, res.Rejected, "push %d", i+1)
		}
	}
	got, raws := e.rejected(t)
	require.Len(t, got, 3)
	assert.Equal(t, key, got[0].DedupKey, "the processor's key")
	assert.Nil(t, got[0].EventID)
	assert.Equal(t, keyOf("unknown_event", "ai_chatbot", "", raws[1]), got[1].DedupKey)
	assert.Equal(t, keyOf("not_normalised", "ai_chatbot", "", raws[2]), got[2].DedupKey)
	for i := range got {
		assert.Equal(t, int64(len(raws[i])), got[i].RawSize)
		assert.Equal(t, sum256(raws[i]), got[i].RawSHA256)
		assert.False(t, got[i].RawTruncated)
	}
}

// TestRejectedRawIsBounded: a raw form over MaxRawBytes is stored cut, with
// the size and sha256 of the whole; a record the processor cut keeps the
// processor's size and sha256.
func TestRejectedRawIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	at := ts("2025-12-08T02:00:00Z")

	// Not normalised, 100 kB attribute: the store cuts it.
	big := wire(t, rec{name: "session.start", product: "ai_chatbot", id: "big-1", at: at, attrs: map[string]any{"note": strings.Repeat("x", 100_000)}})
	var m plog.JSONMarshaler
	whole, err := m.MarshalLogs(big)
	require.NoError(t, err)
	require.Greater(t, len(whole), MaxRawBytes)

	// Too large for the processor: it cuts the record (body = the start of
	// its OTLP/JSON), the store keeps that.
	tooLarge := rec{name: "session.start", product: "ai_chatbot", id: "big-2", at: at, attrs: map[string]any{"session_id": "s"}}
	for i := range 40 {
		tooLarge.attrs[fmt.Sprintf("a%02d", i)] = strings.Repeat("y", 4000)
	}
	cut := wire(t, tooLarge)
	wholeCut, err := m.MarshalLogs(cut)
	require.NoError(t, err)
	normalise(cut)
	clr := logRecords(cut)[0]
	reason, _ := clr.Attributes().Get(catalog.AttrRejectReason)
	require.Equal(t, "too_large", reason.Str())
	body := clr.Body().Str()

	ld := plog.NewLogs()
	big.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	cut.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	res, err := s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, Result{Rejected: 2, RejectedByReason: map[string]int{"not_normalised": 1, "too_large": 1}}, res)

	got, raws := e.rejected(t)
	require.Len(t, got, 2)
	assert.Equal(t, whole[:MaxRawBytes], raws[0])
	assert.Equal(t, rejRow{
		Reason: "not_normalised", Message: msgNotNormalised,
		EventName: ptr("session.start"), Product: ptr("ai_chatbot"), EventID: ptr("big-1"), EventTime: ptr(at),
		RawSize: int64(len(whole)), RawSHA256: sum256(whole), RawTruncated: true,
		DedupKey: keyOf("not_normalised", "ai_chatbot", "big-1", whole),
	}, got[0])
	assert.Equal(t, []byte(body), raws[1])
	assert.True(t, strings.HasPrefix(string(wholeCut), body[:100]), "the body is the start of the record's OTLP/JSON")
	assert.Equal(t, int64(len(wholeCut)), got[1].RawSize)
	assert.Equal(t, sum256(wholeCut), got[1].RawSHA256)
	assert.True(t, got[1].RawTruncated)
	assert.Equal(t, bytesAttr(t, clr, catalog.AttrRejectKey), got[1].DedupKey)

	// Resent: nothing new.
	res, err = s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Rejected)
	assert.Equal(t, 2, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))
}

// TestSetRaw checks the raw form of a rejected row on hand-built records.
func TestSetRaw(t *testing.T) {
	t.Parallel()
	mk := func(body string, attrs map[string]any) source {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		sl := rl.ScopeLogs().AppendEmpty()
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(body)
		require.NoError(t, lr.Attributes().FromRaw(attrs))
		return source{rl: rl, sl: sl, lr: lr}
	}
	sha := strings.Repeat("ab", 32)
	shaBytes, _ := hex.DecodeString(sha)
	long := strings.Repeat("z", MaxRawBytes+10)
	for _, tc := range []struct {
		name      string
		src       source
		raw       string
		size      int64
		sha       []byte
		truncated bool
	}{
		{
			"cut by the processor", mk("{\"resourceLogs\":[", map[string]any{catalog.AttrRawTruncated: true, catalog.AttrRawSize: int64(90_000), catalog.AttrRawSHA256: sha}),
			"{\"resourceLogs\":[", 90_000, shaBytes, true,
		},
		{
			"cut, sha256 unusable and size too small", mk("abc", map[string]any{catalog.AttrRawTruncated: true, catalog.AttrRawSize: int64(1), catalog.AttrRawSHA256: "xyz"}),
			"abc", 3, nil, true,
		},
		{
			"cut, body longer than MaxRawBytes", mk(long, map[string]any{catalog.AttrRawTruncated: true, catalog.AttrRawSize: int64(200_000), catalog.AttrRawSHA256: sha}),
			long[:MaxRawBytes], 200_000, shaBytes, true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r rejectedRow
			r.setRaw(tc.src)
			assert.Equal(t, tc.raw, string(r.raw))
			assert.Equal(t, tc.size, r.rawSize)
			assert.Equal(t, tc.sha, r.rawSHA256)
			assert.Equal(t, tc.truncated, r.rawTruncated)
		})
	}
	// Not cut: the OTLP/JSON without analytics.* attributes.
	src := mk("hello", map[string]any{"k": "v", catalog.AttrStatus: "rejected", catalog.AttrRawTruncated: false})
	var r rejectedRow
	whole := r.setRaw(src)
	assert.Equal(t, map[string]any{"k": "v"}, rawAttrs(t, r.raw))
	assert.Contains(t, string(r.raw), `"body":{"stringValue":"hello"}`)
	assert.Equal(t, whole, r.raw)
	assert.Equal(t, []any{int64(len(whole)), sum256(whole), false}, []any{r.rawSize, r.rawSHA256, r.rawTruncated})
}

func TestCutText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "…"},
		{"abcdefgh", 6, "abc…"},
		{"ab中文字", 8, "ab中…"}, // 中 is 3 bytes: "ab中" + "…" = 8
		{"ab中文字", 7, "ab…"},
	} {
		got := cutText(tc.in, tc.n)
		assert.Equal(t, tc.want, got, tc.in)
		assert.LessOrEqual(t, len(got), tc.n)
	}
}

// TestLongEventIDInBatch: a record whose wire event.id is 3 kB, without the
// normalised attributes, in a batch of 10 valid events: the events are
// stored and the record lands in the rejected table (its event_id cut to
// 1 kB, the whole id in raw). An accepted record carrying a 3 kB id (past
// the processor) is refused by the ledger's index and isolated.
func TestLongEventIDInBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.store()
	var b strings.Builder
	for i := 0; b.Len() < 3000; i++ { // incompressible, as a real long id
		b.WriteString(hex.EncodeToString(sum256([]byte{byte(i), byte(i >> 8)})))
	}
	longID := b.String()[:3000]

	var recs []rec
	for i := range 10 {
		recs = append(recs, rec{name: "session.start", product: "ai_chatbot", id: fmt.Sprintf("ok-%02d", i), at: ts("2025-12-09T02:00:00Z"), attrs: map[string]any{"session_id": "s"}})
	}
	ld := normalised(t, recs...)
	raw := wire(t, rec{name: "session.start", product: "ai_chatbot", id: longID, at: ts("2025-12-09T02:00:00Z"), attrs: map[string]any{"session_id": "s"}})
	raw.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	accepted := normalised(t, rec{name: "session.start", product: "ai_chatbot", id: "short", at: ts("2025-12-09T02:00:00Z"), attrs: map[string]any{"session_id": "s"}})
	logRecords(accepted)[0].Attributes().PutStr(catalog.AttrEventID, longID+"-accepted")
	accepted.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())

	res, err := s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, Result{
		Inserted: 10, Rejected: 2, RefusedByDB: 1,
		RejectedByReason: map[string]int{"not_normalised": 1, "storage_refused": 1},
	}, res)
	assert.Equal(t, 10, e.count(t, `SELECT count(*) FROM analytics_events`))
	want := []counters.Row{row("2025-12-09", "", "session.start", 10, 0, 0, 0)}
	assert.Equal(t, want, e.rollups(t))
	assert.Equal(t, want, e.redisDays(t, "2025-12-09"))

	got, raws := e.rejected(t)
	require.Len(t, got, 2)
	byReason := map[string]int{got[0].Reason: 0, got[1].Reason: 1}
	nn := got[byReason["not_normalised"]]
	require.NotNil(t, nn.EventID)
	assert.Equal(t, longID[:1021]+"…", *nn.EventID)
	assert.Equal(t, longID, rawAttrs(t, raws[byReason["not_normalised"]])["event.id"])
	sr := got[byReason["storage_refused"]]
	assert.Contains(t, sr.Message, "index row size")
	assert.Len(t, *sr.EventID, 1024)

	res, err = s.Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, 10, res.Duplicates)
	assert.Equal(t, 2, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))
}

// TestRefusedRejectedRowFallback: a rejected row PostgreSQL refuses (here a
// CHECK constraint added by hand) is stored as a stand-in with its reason,
// key, size and sha256 and a note in raw; the rest of the batch is stored.
// Only when the stand-in is refused too does Write return a PermanentError,
// after storing the rest.
func TestRefusedRejectedRowFallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := ts("2025-12-10T02:00:00Z")
	batch := func(t *testing.T) plog.Logs {
		var recs []rec
		for i := range 5 {
			recs = append(recs, rec{name: "session.start", product: "ai_chatbot", id: fmt.Sprintf("f-%d", i), at: at, attrs: map[string]any{"session_id": "s"}})
		}
		recs = append(recs,
			rec{name: "no.such.event", product: "ai_chatbot", id: "poison-1", at: at},
			rec{name: "no.such.event", product: "ai_chatbot", id: "fine-1", at: at})
		return normalised(t, recs...)
	}
	want := []counters.Row{row("2025-12-10", "", "session.start", 5, 0, 0, 0)}

	t.Run("stand-in", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, err := e.pool.Exec(ctx, `ALTER TABLE analytics_rejected_events ADD CONSTRAINT poison CHECK (event_id NOT LIKE 'poison%')`)
		require.NoError(t, err)
		ld := batch(t)
		poison := logRecords(ld)[5]
		key := bytesAttr(t, poison, catalog.AttrRejectKey)
		s := e.store()
		for i := range 2 {
			res, err := s.Write(ctx, ld)
			require.NoError(t, err)
			assert.Equal(t, 2, res.Rejected, "push %d", i+1)
		}
		assert.Equal(t, want, e.rollups(t))
		got, raws := e.rejected(t)
		require.Len(t, got, 2)
		i := 0
		if got[0].EventID != nil {
			i = 1
		}
		f := got[i]
		assert.Equal(t, "unknown_event", f.Reason)
		assert.Equal(t, "PostgreSQL refused to store this rejected record "+
			`(new row for relation "analytics_rejected_events" violates check constraint "poison"); `+
			"raw holds a note instead: what the record said (cut), and the size and sha256 of its raw form", f.Message)
		assert.Equal(t, []any{(*string)(nil), (*string)(nil), (*time.Time)(nil), true, key}, []any{f.EventID, f.Product, f.EventTime, f.RawTruncated, f.DedupKey})
		var note map[string]any
		dec := json.NewDecoder(bytes.NewReader(raws[i]))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&note))
		assert.Equal(t, "poison-1", note["event_id"])
		assert.Equal(t, "ai_chatbot", note["product"])
		assert.Equal(t, "no.such.event", note["event_name"])
		assert.Equal(t, json.Number(strconv.FormatInt(f.RawSize, 10)), note["raw_size"])
		assert.Equal(t, hex.EncodeToString(f.RawSHA256), note["raw_sha256"])
		assert.Equal(t, "2025-12-10T02:00:00Z", note["event_time"])
		assert.Greater(t, f.RawSize, int64(100), "the size of the record's raw form, not of the note")
		assert.Equal(t, ptr("fine-1"), got[1-i].EventID)
	})

	t.Run("stand-in refused too", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, err := e.pool.Exec(ctx, `ALTER TABLE analytics_rejected_events ADD CONSTRAINT poison CHECK (reason <> 'unknown_event')`)
		require.NoError(t, err)
		res, err := e.store().Write(ctx, batch(t))
		var perm *PermanentError
		require.ErrorAs(t, err, &perm)
		assert.Contains(t, err.Error(), `reason unknown_event`)
		assert.Equal(t, 5, res.Inserted)
		assert.Equal(t, want, e.rollups(t))
		assert.Equal(t, want, e.redisDays(t, "2025-12-10"))
		assert.Equal(t, 0, e.count(t, `SELECT count(*) FROM analytics_rejected_events`))
	})
}

// TestRefusedRepeatIsStored: when PostgreSQL refuses the first record of an
// id, a repeat of it with other content is stored as the event (it is the
// first storable one), not lost as a conflict of nothing.
func TestRefusedRepeatIsStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a := rec{name: "session.start", product: "ai_chatbot", id: "r-1", at: ts("2025-12-11T02:00:00Z"), attrs: map[string]any{"session_id": "A"}}
	b := a
	b.attrs = map[string]any{"session_id": "B"}
	b.at = ts("2026-01-11T02:00:00Z") // another month: its partition is made on the way
	ld := normalised(t, a, b)
	logRecords(ld)[0].Attributes().PutStr("note", "bad\x00value") // jsonb refuses \u0000
	res, err := e.store().Write(ctx, ld)
	require.NoError(t, err)
	assert.Equal(t, Result{Inserted: 1, Rejected: 1, RefusedByDB: 1, RejectedByReason: map[string]int{"storage_refused": 1}}, res)
	assert.Equal(t, []string{"B"}, sessions(t, e))
	assert.Equal(t, []counters.Row{row("2026-01-11", "", "session.start", 1, 0, 0, 0)}, e.rollups(t))
}

// TestRejectKeyMatchesSQL holds rejectKey and migration 006's
// analytics_rejected_key (the backfill of rows stored before) equal.
func TestRejectKeyMatchesSQL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		reason, product, id string
		raw                 []byte
	}{
		{"not_normalised", "ai_chatbot", "e1", []byte(`{"resourceLogs":[]}`)},
		{"unknown_event", "", "", []byte{0, 1, 2, 255}},
		{"storage_refused", "产品", "编号-1", nil},
	} {
		var got []byte
		var product, id any
		if tc.product != "" {
			product = tc.product
		}
		if tc.id != "" {
			id = tc.id
		}
		raw := tc.raw
		if raw == nil {
			raw = []byte{}
		}
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT analytics_rejected_key($1, $2, $3, $4)`, tc.reason, product, id, raw).Scan(&got))
		assert.Equal(t, keyOf(tc.reason, tc.product, tc.id, tc.raw), got, tc.reason)
	}
}

// TestResolve checks the conflict rules without a database.
func TestResolve(t *testing.T) {
	t.Parallel()
	h := func(s string) (out [contentHashSize]byte) { copy(out[:], hash16(s)); return out }
	ev := func(hash string) eventRow {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		sl := rl.ScopeLogs().AppendEmpty()
		r := eventRow{eventID: "x", product: "p", name: "n", day: pgDay(2025, time.December, 2), src: source{rl: rl, sl: sl, lr: sl.LogRecords().AppendEmpty()}}
		if hash != "" {
			r.hash, r.hasHash = h(hash), true
		}
		return r
	}
	stored := func(hash string) storedID {
		st := storedID{day: pgDay(2025, time.December, 1)}
		if hash != "" {
			st.hash, st.hasHash = h(hash), true
		}
		return st
	}
	for _, tc := range []struct {
		name       string
		first      string
		repeats    []string
		known      *storedID
		dups, conf int
		days       []string
	}{
		{"new, no repeats", "a", nil, nil, 0, 0, nil},
		{"new, repeat differs", "a", []string{"b"}, nil, 0, 1, []string{"2025-12-02"}},
		{"new unknown, repeat known", "", []string{"b"}, nil, 1, 0, nil},
		{"known same", "a", nil, ptr(stored("a")), 1, 0, nil},
		{"known differs", "b", nil, ptr(stored("a")), 0, 1, []string{"2025-12-01"}},
		{"known unknown", "b", []string{"c"}, ptr(stored("")), 2, 0, nil},
		{"known differs, repeat is the stored one", "b", []string{"a", "c"}, ptr(stored("a")), 1, 2, []string{"2025-12-01", "2025-12-01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ev(tc.first)
			for _, r := range tc.repeats {
				e.repeats = append(e.repeats, ev(r))
			}
			var known map[int32]storedID
			if tc.known != nil {
				known = map[int32]storedID{0: *tc.known}
			}
			dups, conf := resolve([]eventRow{e}, known)
			assert.Equal(t, tc.dups, dups)
			require.Len(t, conf, tc.conf)
			for i, c := range conf {
				assert.Contains(t, c.message, "first stored on business day "+tc.days[i])
			}
		})
	}
}

// TestAddRepeat: only repeats that may conflict are kept, one per hash.
func TestAddRepeat(t *testing.T) {
	t.Parallel()
	mk := func(hash string) eventRow {
		var r eventRow
		if hash != "" {
			copy(r.hash[:], hash16(hash))
			r.hasHash = true
		}
		return r
	}
	first := mk("a")
	kept := []bool{first.addRepeat(mk("a")), first.addRepeat(mk("b")), first.addRepeat(mk("b")), first.addRepeat(mk("")), first.addRepeat(mk("c"))}
	assert.Equal(t, []bool{false, true, false, false, true}, kept)
	unknown := mk("")
	assert.True(t, unknown.addRepeat(mk("b")), "the ledger's hash may be known")
	assert.False(t, unknown.addRepeat(mk("")))
}

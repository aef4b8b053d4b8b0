package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/normalize"
	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// The baseline: raw pgx CopyFrom of the same kind of rows straight into
// analytics_events of a fresh migrated schema, as the raw_copy
// sub-benchmark of exporter/analyticsexporter/bench_test.go measures it
// (both build the rows with RawRow). No
// deduplication, no ledger, no rollups, no Redis: what PostgreSQL alone
// takes for the rows.

// RawEventColumns are the analytics_events columns of a RawRow.
var RawEventColumns = []string{
	"event_id", "event_name", "product", "event_time", "business_date",
	"session_id", "agent_id", "ticket_id", "customer_id", "attributes", "trace_id", "span_id",
}

// RawCopyResult is one raw COPY run.
type RawCopyResult struct {
	Events       int           `json:"events"`
	Batch        int           `json:"batch,omitempty"` // rows per COPY and commit; 0: one COPY
	Elapsed      time.Duration `json:"-"`
	ElapsedSec   float64       `json:"elapsed_s"`
	EventsPerSec float64       `json:"events_per_sec"`
	// CPU is where the machine's CPU went during the COPY (the collector
	// idles).
	CPU *CPUShare `json:"cpu,omitempty"`
}

// RawRows builds the analytics_events rows of requests 0 … n-1 of gen:
// each record normalised as the eventcatalog processor does, then turned
// into the store's columns and JSON (outside any timing).
func RawRows(gen *Generator, n int) ([][]any, error) {
	norm := normalize.New(nil, normalize.Limits{})
	loc := gen.location()
	now := time.Now()
	var rows [][]any
	for k := range n {
		ld := gen.Logs(k)
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				sl := rl.ScopeLogs().At(j)
				lrs := sl.LogRecords()
				for r := 0; r < lrs.Len(); r++ {
					lr := lrs.At(r)
					if res := norm.Record(rl.Resource(), sl.Scope(), lr, now); res.Outcome != normalize.Accepted {
						return nil, fmt.Errorf("loadgen: request %d record %d not accepted by the catalog (%s)", k, r, res.Outcome)
					}
					rows = append(rows, RawRow(rl.Resource(), lr, loc))
				}
			}
		}
	}
	return rows, nil
}

// RawRow is the analytics_events row of a normalised record (the store's
// columns and JSON, RawEventColumns), with its business date in loc.
func RawRow(res pcommon.Resource, lr plog.LogRecord, loc *time.Location) []any {
	a := lr.Attributes()
	get := func(key string) any {
		if v, ok := a.Get(key); ok {
			return v.Str()
		}
		return nil
	}
	ev := catalog.Accepted(res, lr)
	et := time.Unix(0, ev.TimeUnixNano).UTC()
	y, m, d := et.In(loc).Date()
	js := []byte("{")
	first := true
	for key, v := range a.All() {
		switch key {
		case "session_id", "agent_id", "ticket_id", "customer_id", catalog.WireEventID:
			continue
		}
		if strings.HasPrefix(key, catalog.AttrPrefix) {
			continue
		}
		if !first {
			js = append(js, ',')
		}
		first = false
		js = strconv.AppendQuote(js, key)
		js = append(js, ':')
		switch v.Type() {
		case pcommon.ValueTypeStr:
			js = strconv.AppendQuote(js, v.Str())
		default:
			js = append(js, v.AsString()...)
		}
	}
	js = append(js, '}')
	tid := lr.TraceID()
	return []any{
		ev.ID, ev.Name, ev.Product,
		et, time.Date(y, m, d, 0, 0, 0, 0, time.UTC), get("session_id"), get("agent_id"), get("ticket_id"),
		get("customer_id"), js, fmt.Sprintf("%x", tid[:]), nil,
	}
}

// RawCopy migrates a fresh schema through dsn (its search_path that
// schema), makes the partitions of the rows' months and times pgx CopyFrom
// of rows into analytics_events: in one COPY (batch 0) or one COPY and
// commit per batch rows.
func RawCopy(ctx context.Context, dsn string, months []time.Time, rows [][]any, batch int) (RawCopyResult, error) {
	res := RawCopyResult{Events: len(rows), Batch: batch}
	if err := migrations.Up(dsn); err != nil {
		return res, fmt.Errorf("loadgen: migrate the raw COPY schema: %w", err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return res, err
	}
	defer pool.Close()
	for _, m := range months {
		if _, err := pool.Exec(ctx, `SELECT analytics_ensure_partition($1::date)`, m.Format(time.DateOnly)); err != nil {
			return res, err
		}
	}
	if batch <= 0 {
		batch = len(rows)
	}
	began := time.Now()
	for start := 0; start < len(rows); start += batch {
		chunk := rows[start:min(start+batch, len(rows))]
		copied, err := pool.CopyFrom(ctx, pgx.Identifier{"analytics_events"}, RawEventColumns, pgx.CopyFromRows(chunk))
		if err != nil {
			return res, fmt.Errorf("loadgen: raw COPY: %w", err)
		}
		if copied != int64(len(chunk)) {
			return res, fmt.Errorf("loadgen: raw COPY took %d of %d rows", copied, len(chunk))
		}
	}
	res.Elapsed = time.Since(began)
	res.ElapsedSec = res.Elapsed.Seconds()
	res.EventsPerSec = float64(len(rows)) / res.ElapsedSec
	return res, nil
}

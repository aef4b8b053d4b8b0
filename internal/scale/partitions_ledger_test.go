package scale

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// TestPartitionsLedgerLayout answers "should the event-id ledger be
// partitioned?" with numbers: it builds, in a schema of its own, the ledger
// as migration 006 defines it (one B-tree over (product, event_id)) and the
// same ledger hash-partitioned 16 ways on (product, event_id) (the only
// partitioning that keeps one row per id: a month partitioning cannot, an
// id's business month is not fixed by the id), fills both with the same
// OTELCOL_SCALE_PART_LEDGER_ROWS rows (default 10,000,000) over 24 months,
// and times on each the store's look-up of 5,000 known and 5,000 new ids,
// the insert of 5,000 new ids, and retention's delete of one month's rows.
// It asserts what the look-ups find; the times are logged.
func TestPartitionsLedgerLayout(t *testing.T) {
	partGate(t)
	rows := partEnvInt(t, "OTELCOL_SCALE_PART_LEDGER_ROWS", 10_000_000)
	ctx := context.Background()
	dsn, _ := partMigrated(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()

	ddl := []string{
		`CREATE TABLE ledger_plain (product text NOT NULL, event_id text NOT NULL, business_date date NOT NULL,
			content_hash bytea, PRIMARY KEY (product, event_id))`,
		`CREATE TABLE ledger_hash (product text NOT NULL, event_id text NOT NULL, business_date date NOT NULL,
			content_hash bytea, PRIMARY KEY (product, event_id)) PARTITION BY HASH (product, event_id)`,
	}
	for i := range 16 {
		ddl = append(ddl, fmt.Sprintf(`CREATE TABLE ledger_hash_%02d PARTITION OF ledger_hash FOR VALUES WITH (MODULUS 16, REMAINDER %d)`, i, i))
	}
	for _, q := range ddl {
		_, err := pool.Exec(ctx, q)
		require.NoError(t, err)
	}
	// UUIDv7-like ids in time order, as in partDaySQL, one day at a time.
	perDay := rows / partDays
	fill := `INSERT INTO %s (product, event_id, business_date, content_hash)
		SELECT CASE WHEN i %% 5 = 0 THEN 'agent_workbench' ELSE 'ai_chatbot' END,
			lpad(to_hex((extract(epoch FROM $1::date::timestamp) * 1000)::bigint + i), 12, '0') || '-7000-8000-' || lpad(to_hex($2::bigint * 10000000 + i), 12, '0'),
			$1::date, decode(md5(i::text), 'hex')
		FROM generate_series(1, $3::int) i ORDER BY 1, 2`
	for _, table := range []string{"ledger_plain", "ledger_hash"} {
		start := time.Now()
		for i, d := 0, partFirstDay; !d.After(partLastDay); i, d = i+1, d.AddDate(0, 0, 1) {
			_, err := pool.Exec(ctx, fmt.Sprintf(fill, table), d, i, perDay)
			require.NoError(t, err)
		}
		_, err := pool.Exec(ctx, "ANALYZE "+table)
		require.NoError(t, err)
		var size int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
			WHERE c.relname = $1 OR c.relname LIKE $1 || '\_%' AND c.relkind = 'r'`, table).Scan(&size))
		t.Logf("%s: %d rows loaded in %s, %s with its indexes", table, perDay*partDays, time.Since(start).Round(time.Second), partMB(size))
	}

	// The same sample of known ids for both.
	qr, err := pool.Query(ctx, fmt.Sprintf(`SELECT product, event_id FROM ledger_plain TABLESAMPLE BERNOULLI (%f) ORDER BY random() LIMIT %d`,
		min(100, float64(partBatch*10*2)*100/float64(perDay*partDays)), partBatch*10))
	require.NoError(t, err)
	var products, ids []string
	for qr.Next() {
		var p, id string
		require.NoError(t, qr.Scan(&p, &id))
		products, ids = append(products, p), append(ids, id)
	}
	require.NoError(t, qr.Err())
	require.Len(t, ids, partBatch*10)

	for _, table := range []string{"ledger_plain", "ledger_hash"} {
		probe := strings.Replace(partProbeSQL, "analytics_event_ids", table, 1)
		var known, fresh, insert []time.Duration
		for r := range 10 {
			p, k := products[r*partBatch:(r+1)*partBatch], ids[r*partBatch:(r+1)*partBatch]
			s := time.Now()
			require.Equal(t, partBatch, partCount(t, pool, probe, p, k), "%s: every sampled id is known", table)
			known = append(known, time.Since(s))
			newIDs := make([]string, partBatch)
			for i := range newIDs {
				newIDs[i] = uuid.Must(uuid.NewV7()).String()
			}
			s = time.Now()
			require.Zero(t, partCount(t, pool, probe, p, newIDs), "%s: no new id is known", table)
			fresh = append(fresh, time.Since(s))
			s = time.Now()
			tag, err := pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (product, event_id, business_date)
				SELECT p, id, DATE '2025-12-20' FROM unnest($1::text[], $2::text[]) AS u(p, id) ORDER BY 1, 2`, table), p, newIDs)
			insert = append(insert, time.Since(s))
			require.NoError(t, err)
			require.Equal(t, int64(partBatch), tag.RowsAffected())
		}
		med := func(d []time.Duration) float64 { slices.Sort(d); return partMs(d[len(d)/2]) }
		s := time.Now()
		tag, err := pool.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE business_date < '2024-02-01'`, table))
		require.NoError(t, err)
		require.Equal(t, int64(perDay*31), tag.RowsAffected(), "%s: January's rows", table)
		t.Logf("%s: probe of %d known ids %.1f ms, of %d new ids %.1f ms, insert of %d new ids %.1f ms (medians of 10); "+
			"retention's delete of one month (%d rows) %s",
			table, partBatch, med(known), partBatch, med(fresh), partBatch, med(insert), tag.RowsAffected(), time.Since(s).Round(time.Millisecond))
	}
	t.Logf("load average: %s", partLoadAvg())
}

// partCount runs a look-up and counts the rows it returns.
func partCount(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql, args...)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	return n
}

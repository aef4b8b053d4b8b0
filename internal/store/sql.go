package store

// probeSQL returns, for each (product $1[i], event id $2[i]) the event-id
// ledger holds, i (from 1), the business day it was stored under (days since
// 2000-01-01) and its content hash (NULL: unknown). The look-up is a LATERAL
// subquery with LIMIT, which the planner cannot flatten into a join, so it
// is one primary-key probe per id whatever it thinks: for a join, or
// "event_id = ANY($1)", with 5000 ids it prefers a parallel sequential scan
// of the ledger (60 ms on 1M rows, against 7 ms).
const probeSQL = `SELECT u.i, l.business_date - DATE '2000-01-01', l.content_hash
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(product, id, i)
CROSS JOIN LATERAL (
    SELECT i.business_date, i.content_hash FROM analytics_event_ids i
    WHERE i.product = u.product AND i.event_id = u.id LIMIT 1
) l`

// finishBatchSQL is the one statement of a batch after its COPYs:
//
//   - deltas: the batch's counter deltas, summed in Go from exactly the rows
//     copied ($3..$9, parallel arrays; an empty agent_id is the all-agents row);
//   - up_daily, up_agent: the rollups are incremented, in key order (the
//     lock order of every batch);
//   - rej: the rejected records ($10..$21, parallel arrays) are stored,
//     once per dedup key (a resent rejected record adds nothing);
//   - the deltas are recorded as the outbox row of batch $1 ($2, the JSON
//     of counters.EncodeRows; NULL when the batch counted nothing).
const finishBatchSQL = `WITH deltas AS (
    SELECT d::date AS business_date, a AS agent_id, e AS event_name,
        n AS events, mc AS measure_count, ms AS measure_sum_micro, f AS flag_true
    FROM unnest($3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::numeric[], $9::int8[]) AS u(d, a, e, n, mc, ms, f)
), up_daily AS (
    INSERT INTO analytics_daily_rollup AS r
        (business_date, event_name, events, measure_count, measure_sum_micro, flag_true)
    SELECT business_date, event_name, events, measure_count, measure_sum_micro, flag_true
    FROM deltas WHERE agent_id = '' ORDER BY business_date, event_name
    ON CONFLICT (business_date, event_name) DO UPDATE SET
        events            = r.events + EXCLUDED.events,
        measure_count     = r.measure_count + EXCLUDED.measure_count,
        measure_sum_micro = r.measure_sum_micro + EXCLUDED.measure_sum_micro,
        flag_true         = r.flag_true + EXCLUDED.flag_true,
        updated_at        = now()
), up_agent AS (
    INSERT INTO analytics_agent_daily_rollup AS r
        (business_date, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true)
    SELECT business_date, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true
    FROM deltas WHERE agent_id <> '' ORDER BY business_date, agent_id, event_name
    ON CONFLICT (business_date, agent_id, event_name) DO UPDATE SET
        events            = r.events + EXCLUDED.events,
        measure_count     = r.measure_count + EXCLUDED.measure_count,
        measure_sum_micro = r.measure_sum_micro + EXCLUDED.measure_sum_micro,
        flag_true         = r.flag_true + EXCLUDED.flag_true,
        updated_at        = now()
), rej AS (
    INSERT INTO analytics_rejected_events (reason, field, message, event_name, product, event_id, event_time,
        raw, raw_size, raw_sha256, raw_truncated, dedup_key)
    SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::timestamptz[],
        $17::bytea[], $18::int8[], $19::bytea[], $20::bool[], $21::bytea[])
    ON CONFLICT (dedup_key) DO NOTHING
)
INSERT INTO analytics_redis_outbox (batch_id, deltas)
SELECT $1::uuid, $2::jsonb WHERE $2::jsonb IS NOT NULL`

const (
	ensurePartitionSQL = `SELECT analytics_ensure_partition($1::date)` // NULL: the month is retired
	retiredAtSQL       = `SELECT retired_at FROM analytics_retired_months WHERE month = $1::date`
	dropPartitionsSQL  = `SELECT analytics_drop_partitions_before($1::date)`
	purgeLedgerSQL     = `SELECT deleted, more FROM analytics_purge_retired_ledger($1)` // deleted NULL: another session is purging
)

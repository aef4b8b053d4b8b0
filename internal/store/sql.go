package store

// The staging table: one per PostgreSQL session, created on first use and
// emptied by every commit. A temporary table is never WAL-logged and lives
// in the session's local buffers; keeping it for the life of the connection
// avoids the catalog churn of CREATE/DROP per batch.
const createStageSQL = `CREATE TEMP TABLE IF NOT EXISTS analytics_stage (
    event_id      text        NOT NULL,
    event_name    text        NOT NULL,
    product       text        NOT NULL,
    event_time    timestamptz NOT NULL,
    business_date date        NOT NULL,
    session_id    text,
    agent_id      text,
    ticket_id     text,
    customer_id   text,
    attributes    jsonb       NOT NULL,
    trace_id      text,
    span_id       text,
    measure_micro bigint,
    flag          boolean
) ON COMMIT DELETE ROWS`

const stageTable = "analytics_stage"

// writeSQL stores one staged batch in a single statement:
//
//   - new: the ids not stored before enter the event-id ledger (in id order,
//     so that concurrent batches lock in one order). The existence check is a
//     scalar subquery, i.e. one index probe per staged row whatever the
//     planner thinks of the (never analysed) staging table, and the INSERT
//     has no ON CONFLICT: speculative insertion costs an extra WAL record per
//     row. A concurrent batch committing one of the ids in between makes the
//     primary key fail (23505 on analytics_event_ids_pkey), and the store
//     re-runs the batch (isLedgerRace);
//   - ins: exactly those rows enter analytics_events;
//   - agg, agent_agg: the counter deltas of exactly those rows;
//   - up_daily, up_agent: the rollups are incremented, in key order;
//   - rej: the rejected records ($2..$9, parallel arrays) are stored, once
//     per event id;
//   - outbox: the deltas are recorded under batch id $1 (in the JSON form of
//     counters.EncodeRows) when there are any.
//
// It returns the deltas: the all-agents rows (agent_id ”) and the per-agent
// rows.
const writeSQL = `WITH new AS (
    INSERT INTO analytics_event_ids (event_id, business_date)
    SELECT s.event_id, s.business_date FROM analytics_stage s
    WHERE (SELECT true FROM analytics_event_ids i WHERE i.event_id = s.event_id) IS NULL
    ORDER BY s.event_id
    RETURNING event_id
), fresh AS MATERIALIZED (
    SELECT s.* FROM analytics_stage s JOIN new USING (event_id)
), ins AS (
    INSERT INTO analytics_events (event_id, event_name, product, event_time, business_date,
        session_id, agent_id, ticket_id, customer_id, attributes, trace_id, span_id)
    SELECT event_id, event_name, product, event_time, business_date,
        session_id, agent_id, ticket_id, customer_id, attributes, trace_id, span_id
    FROM fresh
), agg AS MATERIALIZED (
    SELECT business_date, event_name,
        count(*) AS events,
        count(measure_micro) AS measure_count,
        coalesce(sum(measure_micro), 0)::bigint AS measure_sum_micro,
        count(*) FILTER (WHERE flag) AS flag_true
    FROM fresh
    GROUP BY business_date, event_name
), agent_agg AS MATERIALIZED (
    SELECT business_date, agent_id, event_name,
        count(*) AS events,
        count(measure_micro) AS measure_count,
        coalesce(sum(measure_micro), 0)::bigint AS measure_sum_micro,
        count(*) FILTER (WHERE flag) AS flag_true
    FROM fresh
    WHERE agent_id <> ''
    GROUP BY business_date, agent_id, event_name
), up_daily AS (
    INSERT INTO analytics_daily_rollup AS r
        (business_date, event_name, events, measure_count, measure_sum_micro, flag_true)
    SELECT business_date, event_name, events, measure_count, measure_sum_micro, flag_true
    FROM agg ORDER BY business_date, event_name
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
    FROM agent_agg ORDER BY business_date, agent_id, event_name
    ON CONFLICT (business_date, agent_id, event_name) DO UPDATE SET
        events            = r.events + EXCLUDED.events,
        measure_count     = r.measure_count + EXCLUDED.measure_count,
        measure_sum_micro = r.measure_sum_micro + EXCLUDED.measure_sum_micro,
        flag_true         = r.flag_true + EXCLUDED.flag_true,
        updated_at        = now()
), rej AS (
    INSERT INTO analytics_rejected_events (reason, field, message, event_name, product, event_id, event_time, raw)
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::bytea[])
    ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING
), deltas AS (
    SELECT business_date, ''::text AS agent_id, event_name, events, measure_count, measure_sum_micro, flag_true FROM agg
    UNION ALL
    SELECT business_date, agent_id, event_name, events, measure_count, measure_sum_micro, flag_true FROM agent_agg
), outbox AS (
    INSERT INTO analytics_redis_outbox (batch_id, deltas)
    SELECT $1::uuid, jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
        'd', to_char(business_date, 'YYYY-MM-DD'),
        'a', nullif(agent_id, ''),
        'e', event_name,
        'n', events,
        'mc', nullif(measure_count, 0),
        'ms', nullif(measure_sum_micro, 0),
        'f', nullif(flag_true, 0))))
    FROM deltas
    HAVING count(*) > 0
)
SELECT to_char(business_date, 'YYYY-MM-DD'), agent_id, event_name, events, measure_count, measure_sum_micro, flag_true
FROM deltas`

const (
	ensurePartitionSQL = `SELECT analytics_ensure_partition($1::date)`
	dropPartitionsSQL  = `SELECT analytics_drop_partitions_before($1::date)`
	pendingOutboxSQL   = `SELECT batch_id::text, deltas FROM analytics_redis_outbox ORDER BY created_at, batch_id LIMIT $1`
	deleteOutboxSQL    = `DELETE FROM analytics_redis_outbox WHERE batch_id = $1::uuid`
	countOutboxSQL     = `SELECT count(*) FROM analytics_redis_outbox`
)

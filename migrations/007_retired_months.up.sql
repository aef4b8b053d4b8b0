-- Retention keeps exactness.
--
-- analytics_drop_partitions_before drops a month's raw events and its ledger
-- rows but keeps its rollups. Before this migration a resend, a re-run
-- backfill or a replay of an event of that month was then stored and counted
-- again (the ledger no longer knew its id), in a recreated partition that
-- the next retention run dropped again. Now retention records each month it
-- drops in analytics_retired_months, in the same transaction, and a retired
-- month is final: analytics_ensure_partition never creates its partition
-- again, and the store keeps an event of a retired month in the rejected
-- table (reason beyond_retention) instead of storing or counting it.
--
-- One row per retired month (a few hundred bytes a year): the ledger rows of
-- the dropped months are still deleted.

CREATE TABLE analytics_retired_months (
    month      date PRIMARY KEY CHECK (extract(day FROM month) = 1), -- the first day of the business month
    retired_at timestamptz -- when retention dropped it; NULL: before migration 007 (date unknown)
);

-- Months retention dropped before this migration: they have rollups and no
-- partition. (A partition dropped by hand is taken as retired too: its raw
-- events are gone either way, and refusing its events keeps the rollups
-- exact.)
INSERT INTO analytics_retired_months (month, retired_at)
SELECT m, NULL
FROM (SELECT DISTINCT date_trunc('month', business_date)::date AS m FROM analytics_daily_rollup) r
WHERE to_regclass(quote_ident(format('analytics_events_%s', to_char(m, 'YYYY_MM')))) IS NULL;

-- analytics_ensure_partition creates the partition of analytics_events that
-- holds the business month of day d, if it is not there yet, and returns its
-- name; for a retired month it creates nothing and returns NULL. Safe to
-- call concurrently, and with a retention run: before creating, it takes
-- analytics_events' ACCESS EXCLUSIVE lock (which CREATE TABLE ... PARTITION
-- OF takes anyway, and which a retention run holds until it commits), then
-- looks for the marker again in a fresh snapshot (READ COMMITTED), so a
-- month retired meanwhile is never recreated.
CREATE OR REPLACE FUNCTION analytics_ensure_partition(d date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo   date := date_trunc('month', d)::date;
    hi   date := (date_trunc('month', d) + interval '1 month')::date;
    name text := format('analytics_events_%s', to_char(lo, 'YYYY_MM'));
BEGIN
    IF EXISTS (SELECT 1 FROM analytics_retired_months WHERE month = lo) THEN
        RETURN NULL;
    END IF;
    IF to_regclass(quote_ident(name)) IS NULL THEN
        LOCK TABLE analytics_events IN ACCESS EXCLUSIVE MODE;
        IF EXISTS (SELECT 1 FROM analytics_retired_months WHERE month = lo) THEN
            RETURN NULL;
        END IF;
        BEGIN
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF analytics_events FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL; -- created by a concurrent caller
        END;
    END IF;
    RETURN name;
END;
$$;

-- analytics_drop_partitions_before drops every partition of analytics_events
-- whose month ends on or before the first day of cutoff's month, marks each
-- such month retired (analytics_retired_months; a month retired before keeps
-- its first date) and, when it dropped any, deletes the ledger rows of the
-- days before that month, all in one transaction. Rollups are kept: reports
-- of old months still work after their raw events are gone, and stay exact
-- (see analytics_ensure_partition and the store). Returns the dropped
-- partitions.
--
-- Dropping a partition takes analytics_events' ACCESS EXCLUSIVE lock (the
-- parent's before the partition's, in the order a batch's insert takes
-- them, so the two cannot deadlock): the run waits for every batch in flight
-- (one that wrote to the month commits, and is counted, before the marker
-- does), and every batch after it finds the partition gone and the marker
-- committed.
CREATE OR REPLACE FUNCTION analytics_drop_partitions_before(cutoff date) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    m       date := date_trunc('month', cutoff)::date;
    part    record;
    dropped boolean := false;
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE p.relname = 'analytics_events'
          AND n.nspname = current_schema()
          AND c.relname ~ '^analytics_events_\d{4}_\d{2}$'
          AND to_date(substr(c.relname, 18), 'YYYY_MM') < m
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        INSERT INTO analytics_retired_months (month, retired_at)
        VALUES (to_date(substr(part.relname, 18), 'YYYY_MM'), now())
        ON CONFLICT (month) DO NOTHING;
        dropped := true;
        RETURN NEXT part.relname;
    END LOOP;
    IF dropped THEN
        DELETE FROM analytics_event_ids WHERE business_date < m;
    END IF;
END;
$$;

-- Back to retention without markers: analytics_ensure_partition recreates
-- the partition of any month again, so a resend of an event of a month
-- retention dropped is stored and counted a second time (as before 007).
-- Rejected rows with reason beyond_retention stay; they can be replayed.

CREATE OR REPLACE FUNCTION analytics_ensure_partition(d date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo   date := date_trunc('month', d)::date;
    hi   date := (date_trunc('month', d) + interval '1 month')::date;
    name text := format('analytics_events_%s', to_char(lo, 'YYYY_MM'));
BEGIN
    IF to_regclass(quote_ident(name)) IS NULL THEN
        BEGIN
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF analytics_events FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL; -- created by a concurrent caller
        END;
    END IF;
    RETURN name;
END;
$$;

-- As in 005.
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
        dropped := true;
        RETURN NEXT part.relname;
    END LOOP;
    IF dropped THEN
        DELETE FROM analytics_event_ids WHERE business_date < m;
    END IF;
END;
$$;

DROP TABLE IF EXISTS analytics_retired_months;

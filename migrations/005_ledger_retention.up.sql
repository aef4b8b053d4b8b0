-- The ledger's business_date index cost a second index insert for every
-- event stored, and served only retention. Retention now deletes ledger rows
-- only when it actually dropped a partition, with one sequential scan of the
-- ledger (about once a month), so the index goes.
DROP INDEX IF EXISTS analytics_event_ids_business_date;

-- analytics_drop_partitions_before drops every partition of analytics_events
-- whose month ends on or before the first day of cutoff's month and, when it
-- dropped any, the ledger rows of the days before that month (in the same
-- transaction). Rollups are kept: reports of old months still work after
-- their raw events are gone. Returns the dropped partitions.
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

CREATE INDEX IF NOT EXISTS analytics_event_ids_business_date ON analytics_event_ids (business_date);

CREATE OR REPLACE FUNCTION analytics_drop_partitions_before(cutoff date) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    m    date := date_trunc('month', cutoff)::date;
    part record;
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
        RETURN NEXT part.relname;
    END LOOP;
    DELETE FROM analytics_event_ids WHERE business_date < m;
END;
$$;

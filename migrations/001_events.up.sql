-- Raw business events, one row per event id, partitioned by business month.
-- The event-id ledger makes "one row per event id" hold across partitions
-- (a partitioned table's unique keys must include the partition key).
CREATE TABLE analytics_event_ids (
    event_id      text NOT NULL PRIMARY KEY,
    business_date date NOT NULL
);
CREATE INDEX analytics_event_ids_business_date ON analytics_event_ids (business_date);

CREATE TABLE analytics_events (
    event_id      text        NOT NULL,
    event_name    text        NOT NULL,
    product       text        NOT NULL,
    event_time    timestamptz NOT NULL,
    business_date date        NOT NULL, -- the event's day in the business time zone
    session_id    text,
    agent_id      text,
    ticket_id     text,
    customer_id   text,
    attributes    jsonb       NOT NULL DEFAULT '{}'::jsonb, -- every other attribute, typed
    trace_id      text, -- 32 hex digits, NULL when the record had none
    span_id       text, -- 16 hex digits, NULL when the record had none
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, business_date)
) PARTITION BY RANGE (business_date);

-- analytics_ensure_partition creates the partition of analytics_events that
-- holds the business month of day d, if it is not there yet. Safe to call
-- concurrently.
CREATE FUNCTION analytics_ensure_partition(d date) RETURNS text
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

-- analytics_drop_partitions_before drops every partition of analytics_events
-- whose month ends on or before the first day of cutoff's month, and the
-- ledger rows of those days. Rollups are kept: reports of old months still
-- work after their raw events are gone. Returns the dropped partitions.
CREATE FUNCTION analytics_drop_partitions_before(cutoff date) RETURNS SETOF text
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

-- Back to 009: retention deletes the ledger rows in the drop's transaction
-- again. The ledger rows of retired months not purged yet are deleted
-- first, so none stays behind.
DELETE FROM analytics_event_ids l
USING analytics_retired_months r
WHERE r.ledger_purged_at IS NULL
  AND l.business_date >= r.month AND l.business_date < (r.month + interval '1 month')::date;

DROP FUNCTION analytics_purge_retired_ledger(integer);

-- As in 007.
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

ALTER TABLE analytics_retired_months DROP COLUMN ledger_purged_at, DROP COLUMN ledger_purge_block;

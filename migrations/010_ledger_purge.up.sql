-- Retention purges the ledger outside the partition lock.
--
-- Up to 009, analytics_drop_partitions_before deleted the ledger rows of
-- the months it dropped in its own transaction. Dropping a partition takes
-- analytics_events' ACCESS EXCLUSIVE lock, held until commit, and the
-- ledger has no index on business_date (005), so every writer's COPY into
-- analytics_events waited for one sequential scan and delete of the whole
-- ledger: at 30M ledger rows about 6 s, at 100M about 20 s (see
-- docs/scaling.md, "Partitions at scale").
--
-- Now the drop only drops the partitions and marks their months retired
-- (the marker is what keeps a retired month's rollups exact: its events are
-- rejected as beyond_retention, whether its ledger rows are still there or
-- not). analytics_purge_retired_ledger, run by the store right after the
-- drop commits, deletes the ledger rows of the retired months not purged
-- yet and records when (ledger_purged_at). It takes no table lock beyond
-- the DELETE's ROW EXCLUSIVE, so writers go on meanwhile; a purge that did
-- not run (a crash between the two) is done by the next retention run.

ALTER TABLE analytics_retired_months
    ADD COLUMN ledger_purged_at timestamptz; -- NULL: its ledger rows may still be there

-- Months retired before: their ledger rows were deleted with the drop,
-- except a month marked by 007 for a partition dropped by hand. Leave all
-- unpurged: the next retention run makes sure with one scan.

-- analytics_drop_partitions_before drops every partition of analytics_events
-- whose month ends on or before the first day of cutoff's month and marks
-- each such month retired (a month retired before keeps its first date),
-- in one transaction. It no longer deletes ledger rows: run
-- analytics_purge_retired_ledger() after it commits. Rollups are kept.
-- Returns the dropped partitions. (Locking as in 007.)
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
        INSERT INTO analytics_retired_months (month, retired_at)
        VALUES (to_date(substr(part.relname, 18), 'YYYY_MM'), now())
        ON CONFLICT (month) DO UPDATE SET ledger_purged_at = NULL; -- dropped again: purge again
        RETURN NEXT part.relname;
    END LOOP;
END;
$$;

-- analytics_purge_retired_ledger deletes the ledger rows of every retired
-- month whose ledger is not purged yet (one sequential scan of the ledger,
-- no table lock that blocks writers) and marks those months purged.
-- Returns the number of ledger rows deleted, 0 when no month was pending,
-- or NULL when another session is purging right now (it does the work).
CREATE FUNCTION analytics_purge_retired_ledger() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    pending date[];
    hi      date;
    n       bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext(current_schema() || '.analytics_purge_retired_ledger')) THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(month), (max(month) + interval '1 month')::date INTO pending, hi
    FROM analytics_retired_months WHERE ledger_purged_at IS NULL;
    IF pending IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM analytics_event_ids
    WHERE business_date < hi AND date_trunc('month', business_date)::date = ANY (pending);
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE analytics_retired_months SET ledger_purged_at = now() WHERE month = ANY (pending);
    RETURN n;
END;
$$;

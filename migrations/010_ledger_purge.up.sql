-- Retention purges the ledger outside the partition lock.
--
-- Up to 009, analytics_drop_partitions_before deleted the ledger rows of
-- the months it dropped in its own transaction. Dropping a partition takes
-- analytics_events' ACCESS EXCLUSIVE lock, held until commit, and the
-- ledger has no index on business_date (005), so every writer's COPY into
-- analytics_events waited for one sequential scan and delete of the whole
-- ledger, growing with it: measured on the 2-core development VM, writers
-- stood still for 2.6 s with a 10M-row ledger, and the same delete takes
-- about 7 s at 30M rows (so about 23 s at 100M, against the maintenance
-- loop's one-minute timeout; see docs/scaling.md, "Partitions at scale").
--
-- Now the drop only drops the partitions and marks their months retired
-- (the marker is what keeps a retired month's rollups exact: its events are
-- rejected as beyond_retention, whether its ledger rows are still there or
-- not). analytics_purge_retired_ledger, run by the store right after the
-- drop commits, deletes the ledger rows of the retired months not purged
-- yet, one range of ledger pages per call (a TID range scan, so each call
-- is a short transaction), records how far it got (ledger_purge_block) and,
-- at the end of the ledger, when it finished (ledger_purged_at). It takes
-- no table lock beyond the DELETE's ROW EXCLUSIVE, so writers go on
-- meanwhile; a purge cut short (the maintenance timeout, a crash, a
-- restart) goes on from where it stopped at the next retention run.

ALTER TABLE analytics_retired_months
    ADD COLUMN ledger_purged_at   timestamptz,            -- NULL: its ledger rows may still be there
    ADD COLUMN ledger_purge_block bigint NOT NULL DEFAULT 0; -- the ledger pages before this one are purged of the month

-- Months retired before: their ledger rows were deleted with the drop,
-- except a month marked by 007 for a partition dropped by hand. Leave all
-- unpurged: the next retention run makes sure with one scan.

-- analytics_drop_partitions_before drops every partition of analytics_events
-- whose month ends on or before the first day of cutoff's month and marks
-- each such month retired (a month retired before keeps its first date),
-- in one transaction. It no longer deletes ledger rows: call
-- analytics_purge_retired_ledger() after it commits, until more is false.
-- Rollups are kept. Returns the dropped partitions. (Locking as in 007.)
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
        ON CONFLICT (month) DO UPDATE SET ledger_purged_at = NULL, ledger_purge_block = 0; -- dropped again: purge again
        RETURN NEXT part.relname;
    END LOOP;
END;
$$;

-- analytics_purge_retired_ledger deletes, in the ledger pages from the
-- smallest ledger_purge_block of the months pending up to max_blocks pages
-- further, the ledger rows of every retired month whose ledger is not
-- purged yet, and moves their ledger_purge_block on; reaching the end of
-- the ledger, it marks them purged. deleted is the number of rows deleted
-- (NULL when another session is purging right now: it does the work), more
-- whether pages are left (call again). One call is one short transaction
-- that locks no writer out.
CREATE FUNCTION analytics_purge_retired_ledger(max_blocks integer DEFAULT 16384, OUT deleted bigint, OUT more boolean)
LANGUAGE plpgsql AS $$
DECLARE
    pending date[];
    hi      date;
    lo      bigint;
    top     bigint;
    pages   bigint;
BEGIN
    more := false;
    IF NOT pg_try_advisory_xact_lock(hashtext(current_schema() || '.analytics_purge_retired_ledger')) THEN
        deleted := NULL;
        RETURN;
    END IF;
    deleted := 0;
    SELECT array_agg(month), (max(month) + interval '1 month')::date, min(ledger_purge_block) INTO pending, hi, lo
    FROM analytics_retired_months WHERE ledger_purged_at IS NULL;
    IF pending IS NULL THEN
        RETURN;
    END IF;
    pages := pg_relation_size('analytics_event_ids') / current_setting('block_size')::bigint;
    top := lo + greatest(max_blocks, 1);
    DELETE FROM analytics_event_ids
    WHERE ctid >= format('(%s,0)', lo)::tid AND ctid < format('(%s,0)', top)::tid
      AND business_date < hi AND date_trunc('month', business_date)::date = ANY (pending);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    IF top >= pages THEN
        UPDATE analytics_retired_months SET ledger_purged_at = now(), ledger_purge_block = top WHERE month = ANY (pending);
    ELSE
        UPDATE analytics_retired_months SET ledger_purge_block = top WHERE month = ANY (pending);
        more := true;
    END IF;
END;
$$;

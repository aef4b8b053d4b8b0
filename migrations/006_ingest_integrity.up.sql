-- Ingest integrity.
--
-- 1. Event ids are scoped per product: the ledger's key becomes
--    (product, event_id) and analytics_events' (product, event_id,
--    business_date), so one product's sender can no longer suppress another
--    product's events by sending their ids first. Existing ledger rows take
--    the product of their event (a ledger row and its event are written in
--    one transaction); a ledger row without an event (deleted by hand) gets
--    product '' and keeps its id known for no product.
-- 2. The ledger remembers what each id said: content_hash is the 16-byte
--    analytics.event.content_hash of the stored event. NULL (every row from
--    before this migration) is "unknown": never a conflict.
-- 3. Rejected rows are deduplicated on resend by dedup_key (a 16-byte hash
--    of the refusal and the record's content, see internal/store) instead of
--    by event_id; raw is bounded by the store (64 KiB) and described by
--    raw_size, raw_sha256 and raw_truncated.
--
-- Cost: the ledger and analytics_events' primary keys are rebuilt, and every
-- ledger and rejected row is rewritten once. Stop the collectors of the
-- previous version before migrating: they copy ids without a product.

ALTER TABLE analytics_event_ids
    ADD COLUMN product      text,
    ADD COLUMN content_hash bytea,
    ADD CONSTRAINT analytics_event_ids_content_hash_len CHECK (octet_length(content_hash) = 16);
UPDATE analytics_event_ids i SET product = coalesce(
    (SELECT e.product FROM analytics_events e WHERE e.event_id = i.event_id AND e.business_date = i.business_date), '');
ALTER TABLE analytics_event_ids ALTER COLUMN product SET NOT NULL;
ALTER TABLE analytics_event_ids DROP CONSTRAINT analytics_event_ids_pkey;
ALTER TABLE analytics_event_ids ADD CONSTRAINT analytics_event_ids_pkey PRIMARY KEY (product, event_id);

ALTER TABLE analytics_events DROP CONSTRAINT analytics_events_pkey;
ALTER TABLE analytics_events ADD CONSTRAINT analytics_events_pkey PRIMARY KEY (product, event_id, business_date);

-- analytics_rejected_key is the dedup_key of a rejected row the store builds
-- itself (not_normalised, storage_refused, a rejected record without
-- analytics.reject.key): the first 16 bytes of
-- sha256(reason, NUL, product, NUL, event_id, NUL, raw), NULL text as ''.
-- internal/store computes the same in Go (a test holds the two equal).
CREATE FUNCTION analytics_rejected_key(reason text, product text, event_id text, raw bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT substr(sha256(convert_to(reason, 'UTF8') || '\x00'::bytea
        || convert_to(coalesce(product, ''), 'UTF8') || '\x00'::bytea
        || convert_to(coalesce(event_id, ''), 'UTF8') || '\x00'::bytea || raw), 1, 16)
$$;

ALTER TABLE analytics_rejected_events
    ADD COLUMN dedup_key     bytea,
    ADD COLUMN raw_size      bigint,  -- size of the whole raw form in bytes (raw may hold only its start)
    ADD COLUMN raw_sha256    bytea,   -- sha256 of the whole raw form; NULL = not known (a cut record without it)
    ADD COLUMN raw_truncated boolean NOT NULL DEFAULT false; -- raw holds only the first bytes
UPDATE analytics_rejected_events SET
    raw_size = octet_length(raw), raw_sha256 = sha256(raw),
    dedup_key = analytics_rejected_key(reason, product, event_id, raw);
-- Rows stored more than once before (a resent record without an event id)
-- keep their copies, each under a key of its own.
UPDATE analytics_rejected_events r SET dedup_key = substr(sha256(r.dedup_key || int8send(r.id)), 1, 16)
FROM (SELECT id, row_number() OVER (PARTITION BY dedup_key ORDER BY id) AS n FROM analytics_rejected_events) d
WHERE d.id = r.id AND d.n > 1;
ALTER TABLE analytics_rejected_events
    ALTER COLUMN dedup_key SET NOT NULL,
    -- A row inserted by hand without a key is never taken for a resend.
    ALTER COLUMN dedup_key SET DEFAULT uuid_send(gen_random_uuid()),
    ALTER COLUMN raw_size SET NOT NULL;
DROP INDEX analytics_rejected_events_event_id;
CREATE UNIQUE INDEX analytics_rejected_events_dedup_key ON analytics_rejected_events (dedup_key);

-- A row inserted by hand without raw_size (fixtures, a person fixing data)
-- gets the size and sha256 of its raw. The store always sets raw_size (the
-- trigger does not run for its rows).
CREATE FUNCTION analytics_rejected_events_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.raw_size := octet_length(NEW.raw);
    NEW.raw_sha256 := coalesce(NEW.raw_sha256, sha256(NEW.raw));
    RETURN NEW;
END;
$$;
CREATE TRIGGER analytics_rejected_events_fill BEFORE INSERT ON analytics_rejected_events
    FOR EACH ROW WHEN (NEW.raw_size IS NULL)
    EXECUTE FUNCTION analytics_rejected_events_fill();

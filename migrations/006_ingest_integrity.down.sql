-- Back to ids unique across products. An id stored for more than one
-- product stays with the product that stored it first; the others' events
-- and ledger rows are renamed to "<event_id>@<product>" (nothing is lost and
-- the rollups still match the events, but a resend of such an event after
-- the downgrade is stored again).
WITH shared AS (
    SELECT product, event_id,
           row_number() OVER (PARTITION BY event_id ORDER BY first_received NULLS LAST, product) AS n
    FROM (
        SELECT l.product, l.event_id,
               (SELECT min(e.received_at) FROM analytics_events e
                WHERE e.product = l.product AND e.event_id = l.event_id AND e.business_date = l.business_date) AS first_received
        FROM analytics_event_ids l
        WHERE l.event_id IN (SELECT event_id FROM analytics_event_ids GROUP BY event_id HAVING count(*) > 1)
    ) s
), renamed_events AS (
    UPDATE analytics_events e SET event_id = e.event_id || '@' || e.product
    FROM shared WHERE shared.n > 1 AND e.product = shared.product AND e.event_id = shared.event_id
)
UPDATE analytics_event_ids l SET event_id = l.event_id || '@' || l.product
FROM shared WHERE shared.n > 1 AND l.product = shared.product AND l.event_id = shared.event_id;

DROP TRIGGER IF EXISTS analytics_rejected_events_fill ON analytics_rejected_events;
DROP FUNCTION IF EXISTS analytics_rejected_events_fill();
DROP INDEX IF EXISTS analytics_rejected_events_dedup_key;
-- event_id was unique in the rejected table: later rows of an id (a
-- duplicate_conflict, or one id refused with two contents) keep their data
-- but lose the column (raw still holds the record).
UPDATE analytics_rejected_events r SET event_id = NULL
FROM (SELECT id, row_number() OVER (PARTITION BY event_id ORDER BY id) AS n
      FROM analytics_rejected_events WHERE event_id IS NOT NULL) d
WHERE d.id = r.id AND d.n > 1;
CREATE UNIQUE INDEX analytics_rejected_events_event_id ON analytics_rejected_events (event_id) WHERE event_id IS NOT NULL;
ALTER TABLE analytics_rejected_events
    DROP COLUMN dedup_key,
    DROP COLUMN raw_size,
    DROP COLUMN raw_sha256,
    DROP COLUMN raw_truncated;
DROP FUNCTION IF EXISTS analytics_rejected_key(text, text, text, bytea);

ALTER TABLE analytics_events DROP CONSTRAINT analytics_events_pkey;
ALTER TABLE analytics_events ADD CONSTRAINT analytics_events_pkey PRIMARY KEY (event_id, business_date);

ALTER TABLE analytics_event_ids DROP CONSTRAINT analytics_event_ids_pkey;
ALTER TABLE analytics_event_ids ADD CONSTRAINT analytics_event_ids_pkey PRIMARY KEY (event_id);
ALTER TABLE analytics_event_ids
    DROP CONSTRAINT analytics_event_ids_content_hash_len,
    DROP COLUMN content_hash,
    DROP COLUMN product;

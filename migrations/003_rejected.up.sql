-- Records that failed the catalog or that PostgreSQL refused: kept whole so
-- they can be replayed once the catalog is fixed.
CREATE TABLE analytics_rejected_events (
    id                bigserial   PRIMARY KEY,
    received_at       timestamptz NOT NULL DEFAULT now(),
    reason            text        NOT NULL, -- catalog.Reason
    field             text        NOT NULL DEFAULT '',
    message           text        NOT NULL DEFAULT '',
    event_name        text,
    product           text,
    event_id          text,       -- NULL when the record had no usable id
    event_time        timestamptz,
    raw               bytea       NOT NULL, -- OTLP/JSON of a plog.Logs holding just this record with its resource and scope
    replayed_at       timestamptz,          -- set when replay-rejected stored it as an event
    replayed_event_id text
);
-- A resent bad record is stored once.
CREATE UNIQUE INDEX analytics_rejected_events_event_id ON analytics_rejected_events (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX analytics_rejected_events_received_at ON analytics_rejected_events (received_at);
CREATE INDEX analytics_rejected_events_pending ON analytics_rejected_events (id) WHERE replayed_at IS NULL;

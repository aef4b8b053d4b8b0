-- The Redis outbox: each committed batch's aggregated counter deltas, written
-- in the batch's own transaction. After commit they are applied to Redis by a
-- script that first claims the batch id (SET NX), then the row is deleted.
-- Rows left behind by a crash or a Redis outage are applied at start and
-- periodically, so Redis gets every increment exactly once.
CREATE TABLE analytics_redis_outbox (
    batch_id   uuid        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    deltas     jsonb       NOT NULL
);

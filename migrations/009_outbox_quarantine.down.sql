-- The rows stay; a quarantined one is again an undecodable row that each
-- collector tries and logs once per start (schema 008).
ALTER TABLE analytics_redis_outbox DROP COLUMN quarantined_at, DROP COLUMN quarantined_reason;

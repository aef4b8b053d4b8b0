DROP TABLE IF EXISTS analytics_redis_outbox;

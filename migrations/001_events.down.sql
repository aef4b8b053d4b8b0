DROP FUNCTION IF EXISTS analytics_drop_partitions_before(date);
DROP FUNCTION IF EXISTS analytics_ensure_partition(date);
DROP TABLE IF EXISTS analytics_events;
DROP TABLE IF EXISTS analytics_event_ids;

DROP TABLE IF EXISTS analytics_rejected_events;

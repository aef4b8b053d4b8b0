DROP TABLE IF EXISTS analytics_agent_daily_rollup;
DROP TABLE IF EXISTS analytics_daily_rollup;

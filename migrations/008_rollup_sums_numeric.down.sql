-- Back to bigint: fails (22003, nothing changed) if a sum is beyond bigint;
-- such a sum cannot be kept by schema 007.
ALTER TABLE analytics_agent_daily_rollup ALTER COLUMN measure_sum_micro TYPE bigint;
ALTER TABLE analytics_daily_rollup ALTER COLUMN measure_sum_micro TYPE bigint;

-- Measure sums are kept as numeric: one event's measure is at most
-- catalog.MaxMeasure (10^12 units, 10^18 millionths), so a bigint day could
-- overflow after about nine such events and a month summed in bigint sooner;
-- a numeric sum cannot overflow. The exporter sums a batch in 128 bits
-- (counters.Sum) and adds it here as numeric; readers scan it into a Sum.
-- Counts (events, measure_count, flag_true) are one per event and stay
-- bigint.
ALTER TABLE analytics_daily_rollup ALTER COLUMN measure_sum_micro TYPE numeric;
ALTER TABLE analytics_agent_daily_rollup ALTER COLUMN measure_sum_micro TYPE numeric;

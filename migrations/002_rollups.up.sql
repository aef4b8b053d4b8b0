-- Rollups (the seed's 汇总表): per business day and event, and per business
-- day, agent and event. They are updated in the same transaction as the
-- events they count, from the rows actually inserted, so they always equal
-- an aggregate over analytics_events. Sums are kept in integer millionths
-- (round(value * 1e6)) so that PostgreSQL and Redis add exactly the same
-- integers and averages are reproducible to the last digit.
CREATE TABLE analytics_daily_rollup (
    business_date     date        NOT NULL,
    event_name        text        NOT NULL,
    events            bigint      NOT NULL DEFAULT 0, -- count of events
    measure_count     bigint      NOT NULL DEFAULT 0, -- events that carried the catalog's measure
    measure_sum_micro bigint      NOT NULL DEFAULT 0, -- sum of the measure, in millionths
    flag_true         bigint      NOT NULL DEFAULT 0, -- events whose catalog flag was true
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_date, event_name)
);

CREATE TABLE analytics_agent_daily_rollup (
    business_date     date        NOT NULL,
    agent_id          text        NOT NULL,
    event_name        text        NOT NULL,
    events            bigint      NOT NULL DEFAULT 0,
    measure_count     bigint      NOT NULL DEFAULT 0,
    measure_sum_micro bigint      NOT NULL DEFAULT 0,
    flag_true         bigint      NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_date, agent_id, event_name)
);

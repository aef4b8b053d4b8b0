-- Quarantine of an outbox row whose deltas cannot be decoded: the collector
-- that finds one sets quarantined_reason (the decode error, naming the batch,
-- and how to repair it) and quarantined_at in the drain that tried it, logs
-- it once, and from then on no collector takes the row, before or after a
-- restart. The row and its deltas stay as they were, for an operator to fix
-- (then set both columns back to NULL: the next drain applies it) or delete
-- (then rebuild its days). NULL: not quarantined, the only state of a row
-- written by a batch.
ALTER TABLE analytics_redis_outbox
    ADD COLUMN quarantined_reason text,
    ADD COLUMN quarantined_at     timestamptz;

-- The claim that holds a delivery, by a number drawn at random for each
-- claim: an outcome is recorded only while the delivery is still that
-- claim's. The lease's end could not tell apart two claims made in the
-- same millisecond (a delivery given back at once and taken again).
ALTER TABLE webhook_outbox ADD COLUMN claim BIGINT;

-- Each delivery names its conversation, so that the sender keeps the order
-- of one conversation's events to a URL while it posts other
-- conversations' side by side. Deliveries made before have none: the sender
-- posts them in one lane, in order, as before. During a rolling upgrade an
-- older process still makes such deliveries, and a conversation's may then
-- be posted beside its newer ones from a newer process, out of order.
ALTER TABLE webhook_outbox ADD COLUMN conversation_id BIGINT;

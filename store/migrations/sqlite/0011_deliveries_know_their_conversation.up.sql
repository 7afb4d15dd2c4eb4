-- Each delivery names its conversation, so that the sender keeps the order
-- of one conversation's events to a URL while it posts other
-- conversations' side by side. Deliveries made before have none: the sender
-- posts them in order, as before.
ALTER TABLE webhook_outbox ADD COLUMN conversation_id INTEGER;

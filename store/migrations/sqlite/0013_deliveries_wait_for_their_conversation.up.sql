-- The sender claims a conversation's delivery to a webhook only when no
-- earlier one of that conversation to that webhook is leased or waiting to
-- be tried again: this index answers that for each delivery it claims.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (webhook_id, conversation_id, id)
    WHERE next_attempt_at IS NOT NULL;

-- The sender claims a conversation's delivery to a webhook only when no
-- earlier one of that conversation to that webhook is leased or waiting to
-- be tried again (next_attempt_at later than now): this index answers that
-- from the rows still to send alone, however many of the conversation's
-- are due.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (webhook_id, conversation_id, next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;

-- A claim takes one webhook's deliveries still to send in the order of
-- their events: this index holds them by webhook, in that order, with when
-- each is due, so that a claim reads its webhook's leased and waiting ones
-- and then its own, however many other deliveries are due, or were done
-- and kept. It replaces webhook_outbox_due, whose claims read every due
-- delivery of every webhook to find the oldest.
DROP INDEX webhook_outbox_due;
CREATE INDEX webhook_outbox_queue ON webhook_outbox (webhook_id, id, next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;

-- A delivery's id is what a receiver drops repeats by (README, Webhooks), so
-- it must never name two events. Without AUTOINCREMENT SQLite hands out the
-- highest id in the table plus one, and deleting a webhook (its deliveries
-- go with it) let the next delivery take an id a receiver had already seen.
-- The table is rebuilt with AUTOINCREMENT, which never hands an id out
-- twice. (PostgreSQL's identity columns never did.)
CREATE TABLE webhook_outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event           TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- NULL once delivered or given up
    next_attempt_at BIGINT,
    delivered_at    BIGINT,
    last_error      TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
INSERT INTO webhook_outbox_new (id, webhook_id, event, payload, attempts, next_attempt_at, delivered_at, last_error, created_at)
SELECT id, webhook_id, event, payload, attempts, next_attempt_at, delivered_at, last_error, created_at FROM webhook_outbox
-- A delivery whose webhook is gone (deleted with foreign keys off, by hand)
-- could never be sent, and would fail the new table's key.
WHERE webhook_id IN (SELECT id FROM webhooks);
DROP TABLE webhook_outbox;
ALTER TABLE webhook_outbox_new RENAME TO webhook_outbox;
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

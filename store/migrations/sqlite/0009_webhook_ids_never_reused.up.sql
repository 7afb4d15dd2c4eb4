-- A webhook's id is what an administrator changes and deletes it by
-- (PATCH and DELETE .../webhooks/ID), so it must never name two webhooks.
-- Without AUTOINCREMENT SQLite hands out the highest id in the table plus
-- one, and deleting the newest webhook let the next one take its id: a
-- client still holding the old id would change or delete the new one. The
-- table is rebuilt with AUTOINCREMENT, as 0007 did for the deliveries.
-- (PostgreSQL's identity columns never hand an id out twice.)
--
-- Dropping webhooks would delete every delivery (ON DELETE CASCADE, and
-- foreign keys are on here), so the outbox is rebuilt beside it, pointing
-- at the new table, with its own high-water mark carried over: its ids must
-- not be handed out twice either.
CREATE TABLE webhooks_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    url           TEXT   NOT NULL,
    secret        TEXT   NOT NULL,
    -- space-separated event names
    subscriptions TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
-- (webhooks has no high-water mark before this, unless rebuilt already.)
INSERT INTO sqlite_sequence (name, seq)
SELECT 'webhooks_new', seq FROM sqlite_sequence WHERE name = 'webhooks';
INSERT INTO webhooks_new (id, account_id, url, secret, subscriptions, created_at)
SELECT id, account_id, url, secret, subscriptions, created_at FROM webhooks;

CREATE TABLE webhook_outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      BIGINT NOT NULL REFERENCES webhooks_new (id) ON DELETE CASCADE,
    event           TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- NULL once delivered or given up
    next_attempt_at BIGINT,
    delivered_at    BIGINT,
    last_error      TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
INSERT INTO sqlite_sequence (name, seq)
SELECT 'webhook_outbox_new', seq FROM sqlite_sequence WHERE name = 'webhook_outbox';
INSERT INTO webhook_outbox_new (id, webhook_id, event, payload, attempts, next_attempt_at, delivered_at, last_error, created_at)
SELECT id, webhook_id, event, payload, attempts, next_attempt_at, delivered_at, last_error, created_at FROM webhook_outbox
WHERE webhook_id IN (SELECT id FROM webhooks_new);

-- The old outbox first: nothing refers to it, and once it is gone nothing
-- refers to the old webhooks, whose drop then deletes nothing else.
DROP TABLE webhook_outbox;
DROP TABLE webhooks;
ALTER TABLE webhooks_new RENAME TO webhooks;
ALTER TABLE webhook_outbox_new RENAME TO webhook_outbox;
CREATE INDEX webhooks_account ON webhooks (account_id);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

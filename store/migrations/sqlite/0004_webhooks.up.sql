-- Webhooks: per-account subscriptions, and an outbox written in the
-- transaction of each change, so that no event is lost across a restart and
-- none is sent for a change that rolled back.
CREATE TABLE webhooks (
    id            INTEGER PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    url           TEXT   NOT NULL,
    secret        TEXT   NOT NULL,
    -- space-separated event names
    subscriptions TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX webhooks_account ON webhooks (account_id);

CREATE TABLE webhook_outbox (
    id              INTEGER PRIMARY KEY,
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
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

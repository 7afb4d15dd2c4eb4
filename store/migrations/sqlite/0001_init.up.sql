-- The routing schema (SQLite): accounts, users and their place in each account, inboxes
-- with their members and rotation, conversations and their assignment events.

CREATE TABLE accounts (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT    NOT NULL,
    -- the last per-account conversation number handed out (Chatwoot's display_id)
    last_conversation_id INTEGER NOT NULL DEFAULT 0,
    created_at           BIGINT  NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT   NOT NULL,
    email         TEXT   NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,
    access_token  TEXT   NOT NULL UNIQUE,
    -- tokens are looked up by their SHA-256, so that the time a lookup takes
    -- says nothing about how close a guessed token came
    access_token_hash TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE account_users (
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    user_id      INTEGER NOT NULL REFERENCES users (id),
    role         TEXT    NOT NULL CHECK (role IN ('agent', 'administrator')),
    availability TEXT    NOT NULL CHECK (availability IN ('online', 'busy', 'offline')),
    auto_offline BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX account_users_user ON account_users (user_id);

-- Cookie sessions; only a hash of the token is stored.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at BIGINT  NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE inboxes (
    id                       INTEGER PRIMARY KEY,
    account_id               INTEGER NOT NULL REFERENCES accounts (id),
    name                     TEXT    NOT NULL,
    webhook_url              TEXT    NOT NULL DEFAULT '',
    enable_auto_assignment   BOOLEAN NOT NULL DEFAULT TRUE,
    enable_auto_reassignment BOOLEAN NOT NULL DEFAULT TRUE,
    -- the rotation: the user id picked last (0 in a fresh inbox)
    rotation_last_user_id    INTEGER NOT NULL DEFAULT 0,
    created_at               BIGINT  NOT NULL
);
CREATE INDEX inboxes_account ON inboxes (account_id);

CREATE TABLE inbox_members (
    inbox_id INTEGER NOT NULL REFERENCES inboxes (id),
    user_id  INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (inbox_id, user_id)
);
CREATE INDEX inbox_members_user ON inbox_members (user_id);

CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    display_id       INTEGER NOT NULL,
    inbox_id         INTEGER NOT NULL REFERENCES inboxes (id),
    status           TEXT    NOT NULL CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
    assignee_id      INTEGER REFERENCES users (id),
    contact_id       INTEGER,
    source_id        TEXT    NOT NULL DEFAULT '',
    snoozed_until    BIGINT,
    created_at       BIGINT  NOT NULL,
    last_activity_at BIGINT  NOT NULL,
    UNIQUE (account_id, display_id)
);
CREATE INDEX conversations_assignee ON conversations (account_id, assignee_id);
CREATE INDEX conversations_inbox ON conversations (inbox_id, status);
CREATE INDEX conversations_activity ON conversations (account_id, status, last_activity_at);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    content         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id);

-- One row per change of assignee, written in the transaction of the change.
-- User ids are not foreign keys so that history outlives a removed user.
CREATE TABLE assignment_events (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id),
    from_assignee_id INTEGER,
    to_assignee_id   INTEGER,
    reason           TEXT    NOT NULL CHECK (reason IN ('manual', 'auto', 'reassign')),
    actor_id         INTEGER,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX assignment_events_conversation ON assignment_events (conversation_id);

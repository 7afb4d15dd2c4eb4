-- Presence: availability that follows the console connection.

-- One row per open live-update connection of a console, kept fresh by its
-- process; a row whose heartbeat is old belongs to a process that died.
CREATE TABLE console_connections (
    id           INTEGER PRIMARY KEY,
    account_id   BIGINT NOT NULL,
    user_id      BIGINT NOT NULL,
    process_id   TEXT   NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE INDEX console_connections_user ON console_connections (account_id, user_id);
CREATE INDEX console_connections_process ON console_connections (process_id);

-- When the user's last console connection closed; NULL for a user who has
-- had none since their last explicit choice of availability (API-only users
-- keep what they set).
ALTER TABLE account_users ADD COLUMN last_disconnected_at BIGINT;

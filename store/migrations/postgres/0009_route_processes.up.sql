-- Several processes on one PostgreSQL send the creates of an inbox to the one
-- process that leads it, so that they share its transactions (cluster
-- package). A process leads an inbox while its lead connection holds the
-- inbox's advisory lock; this table says where the process behind that
-- connection listens and the token it takes from the others. A row outlives
-- a process that died: its connection's locks go with it, so no lookup finds
-- the row any more, and the next process whose connection gets the same pid
-- writes over it.
CREATE TABLE route_processes (
    backend_pid INTEGER PRIMARY KEY,
    address     TEXT    NOT NULL,
    token       TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL
);

-- A create sent to the leader carries a key, so that the sender can make it
-- itself when it cannot tell whether the leader did (the leader died with
-- the request): the second of two creates with one key inserts nothing, and
-- answers with the first. Both take the inbox's routing lock before they
-- look for the key, so the second sees the first once committed; a unique
-- index would check it again, and its speculative insert cost a fifth of
-- the leader's time per create (BENCHMARKS.md).
ALTER TABLE conversations ADD COLUMN create_key TEXT;
CREATE INDEX conversations_create_key ON conversations (create_key) WHERE create_key IS NOT NULL;

-- A user who goes offline holding many conversations has them reassigned in
-- transactions of a few hundred each, so that other writes are not held up
-- behind one long transaction. While such a reassignment is under way,
-- reassign_bound holds the id of the newest assignment event at the moment
-- the user went offline (the conversations still to move are theirs with no
-- event after it) and reassign_actor who made the change; a process that
-- stops half-way leaves them set, and the next sweep finishes the work.
ALTER TABLE account_users ADD COLUMN reassign_bound BIGINT;
ALTER TABLE account_users ADD COLUMN reassign_actor BIGINT;

-- Those steps read a user's conversations in id order from where the step
-- before stopped; SQLite's index on (account_id, assignee_id) ends in the
-- rowid and gives that order already.
CREATE INDEX conversations_assignee_id ON conversations (account_id, assignee_id, id);
DROP INDEX conversations_assignee;

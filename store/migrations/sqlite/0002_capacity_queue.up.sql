-- Capacity, balanced mode and the waiting queue (issue: routing beyond round
-- robin).
ALTER TABLE inboxes ADD COLUMN max_assignment_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inboxes ADD COLUMN assignment_mode TEXT NOT NULL DEFAULT 'round_robin'
    CHECK (assignment_mode IN ('round_robin', 'balanced'));

-- Set while an open, unassigned conversation waits for an agent with room;
-- the queue is ordered by it, then by id.
ALTER TABLE conversations ADD COLUMN waiting_since BIGINT;
CREATE INDEX conversations_queue ON conversations (inbox_id, waiting_since, id)
    WHERE waiting_since IS NOT NULL;
-- Open conversations per member of an inbox, for capacity and balance.
CREATE INDEX conversations_load ON conversations (inbox_id, assignee_id, status);

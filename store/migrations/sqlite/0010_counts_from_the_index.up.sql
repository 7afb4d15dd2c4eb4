-- A conversation list counts the conversations of its status (mine,
-- unassigned, assigned, all; ListConversations' meta), and every open
-- console asks for it again after the changes it hears. The count found
-- them in conversations_activity and then read each one's row for its
-- assignee and inbox. The index now holds both, so the count reads the
-- index alone. Every write that changes either also changes the activity,
-- so no write updates the index more often than before.
DROP INDEX conversations_activity;
CREATE INDEX conversations_activity ON conversations (account_id, status, last_activity_at, id, assignee_id, inbox_id);

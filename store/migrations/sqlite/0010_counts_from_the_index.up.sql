-- A conversation list counts the conversations of its status (mine,
-- unassigned, assigned, all; ListConversations' meta), and every open
-- console asks for it again after the changes it hears. The count found
-- them in conversations_activity and then read each one's row for its
-- assignee and inbox. The index now holds both, so the count reads the
-- index alone, and so does the report of open conversations (ReportOpen).
-- Every write that changes either also changes the activity, so no write
-- updates the index more often than before.
--
-- The status comes first: led by the account, the index held everything
-- an account-wide read of assignees and inboxes needs, and SQLite, which
-- keeps no statistics here, preferred it to conversations_assignee to
-- find the inboxes of a user going offline, reading every conversation of
-- the account. The id follows the activity, so that among equal
-- activities the index keeps the list's order.
DROP INDEX conversations_activity;
CREATE INDEX conversations_activity ON conversations (status, account_id, last_activity_at, id, assignee_id, inbox_id);

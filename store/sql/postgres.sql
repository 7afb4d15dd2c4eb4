-- PostgreSQL's versions of the queries in queries.sql that differ. Several
-- processes write at once there, so the routing locks take row locks.

-- The routing locks are FOR NO KEY UPDATE: the rotation they guard is no
-- key, and they exclude each other without also blocking the key-share
-- locks that foreign keys take on an inbox's row (inserting a conversation
-- or a member refers to it).

-- name: LockInbox
SELECT name, webhook_url, enable_auto_assignment, enable_auto_reassignment,
       max_assignment_limit, assignment_mode, rotation_last_user_id
FROM inboxes WHERE id = ? AND account_id = ? FOR NO KEY UPDATE;

-- name: LockInboxesOfAccount
SELECT id FROM inboxes WHERE account_id = ? ORDER BY id FOR NO KEY UPDATE;

-- name: LockInboxesOfUser
SELECT id FROM inboxes
WHERE account_id = ?
  AND (id IN (SELECT inbox_id FROM inbox_members WHERE user_id = ?)
       OR id IN (SELECT inbox_id FROM conversations WHERE account_id = ? AND assignee_id = ?))
ORDER BY id FOR NO KEY UPDATE;

-- name: AutoInboxesOfMember
SELECT i.id FROM inboxes i JOIN inbox_members m ON m.inbox_id = i.id
WHERE i.account_id = ? AND m.user_id = ? AND i.enable_auto_assignment
ORDER BY i.id FOR NO KEY UPDATE OF i;

-- name: NextDisplayID
-- From the account's sequence (migration 0005): no lock held.
SELECT nextval(('conversation_display_ids_' || ?::bigint)::regclass);

-- name: ClaimDeliveries
UPDATE webhook_outbox SET next_attempt_at = ?
WHERE id IN (SELECT id FROM webhook_outbox WHERE next_attempt_at <= ? ORDER BY id LIMIT ?
             FOR UPDATE SKIP LOCKED)
RETURNING id, webhook_id, event, payload, attempts;

-- name: MoveConversations
UPDATE conversations SET assignee_id = (j.value->>1)::bigint, waiting_since = NULL,
                         last_activity_at = ?
FROM jsonb_array_elements(?::jsonb) AS j(value)
WHERE conversations.id = (j.value->>0)::bigint;

-- name: InsertEvents
INSERT INTO assignment_events (account_id, conversation_id, from_assignee_id, to_assignee_id, reason, actor_id, created_at)
SELECT ?::bigint, (j.value->>0)::bigint, ?::bigint, (j.value->>1)::bigint, ?::text, ?::bigint, ?::bigint
FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS j(value, n) ORDER BY j.n;

-- name: SetWaitingAll
UPDATE conversations SET waiting_since = ?
WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(?::jsonb) AS t(x));

-- name: InsertCreated
-- A create's writes in one statement, each of which would be a round trip
-- under the inbox's routing lock: InsertConversation; InsertMessage unless
-- the content is empty; InsertEvent when it has an assignee; SetRotation
-- when the rotation's last pick is not NULL. Parameters: account, display
-- id, inbox, status, contact, source, assignee, now (twice); content;
-- reason, actor; last pick. Returns the conversation's and message's ids.
WITH c AS (
  INSERT INTO conversations (account_id, display_id, inbox_id, status, contact_id, source_id, assignee_id, created_at, last_activity_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
  RETURNING id, account_id, inbox_id, assignee_id, created_at
), m AS (
  INSERT INTO messages (conversation_id, content, created_at)
  SELECT c.id, t.content, c.created_at FROM c, (SELECT ?::text AS content) AS t
  WHERE t.content <> ''
  RETURNING id
), e AS (
  INSERT INTO assignment_events (account_id, conversation_id, from_assignee_id, to_assignee_id, reason, actor_id, created_at)
  SELECT c.account_id, c.id, NULL, c.assignee_id, ?::text, ?::bigint, c.created_at FROM c
  WHERE c.assignee_id IS NOT NULL
), r AS (
  UPDATE inboxes SET rotation_last_user_id = p.last
  FROM (SELECT ?::bigint AS last) AS p, c
  WHERE inboxes.id = c.inbox_id AND p.last IS NOT NULL
)
SELECT c.id, (SELECT id FROM m) FROM c;

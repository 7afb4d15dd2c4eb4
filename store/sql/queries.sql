-- The store's SQL, one statement per "-- name:" block. Each name is a field of
-- the queries struct in store.go; Open fails if the two disagree.

-- name: CountAccounts
SELECT count(*) FROM accounts;

-- name: AccountByID
SELECT name, last_conversation_id FROM accounts WHERE id = ?;

-- name: InsertAccount
INSERT INTO accounts (name, created_at) VALUES (?, ?) RETURNING id;

-- name: NextDisplayID
UPDATE accounts SET last_conversation_id = last_conversation_id + 1
WHERE id = ? RETURNING last_conversation_id;

-- name: InsertUser
INSERT INTO users (name, email, password_hash, access_token, access_token_hash, created_at)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id;

-- name: UserByID
SELECT name, email, access_token FROM users WHERE id = ?;

-- name: UserByEmail
SELECT id, password_hash FROM users WHERE email = ?;

-- name: UserByToken
-- Every request authenticates, so in one query: the user whose access token
-- hashes to the parameter, with a row per account they belong to (one row
-- with NULL account columns when none), in account order.
SELECT u.id, u.name, u.email, u.access_token, a.id, a.name, au.role, au.availability, au.auto_offline
FROM users u
LEFT JOIN account_users au ON au.user_id = u.id
LEFT JOIN accounts a ON a.id = au.account_id
WHERE u.access_token_hash = ?
ORDER BY a.id;

-- name: UserBySession
-- UserByToken for the user of a cookie session.
SELECT u.id, u.name, u.email, u.access_token, a.id, a.name, au.role, au.availability, au.auto_offline
FROM sessions s
JOIN users u ON u.id = s.user_id
LEFT JOIN account_users au ON au.user_id = u.id
LEFT JOIN accounts a ON a.id = au.account_id
WHERE s.token_hash = ?
ORDER BY a.id;

-- name: UpdateUserName
UPDATE users SET name = ? WHERE id = ?;

-- name: AccountsNotAdministeredBy
-- How many accounts of a user (first parameter) the caller (second) is
-- not an administrator of.
SELECT count(*) FROM account_users m
WHERE m.user_id = ?
  AND NOT EXISTS (SELECT 1 FROM account_users a
                  WHERE a.account_id = m.account_id AND a.user_id = ? AND a.role = 'administrator');

-- name: MembershipsOfUser
SELECT a.id, a.name, au.role, au.availability, au.auto_offline
FROM account_users au JOIN accounts a ON a.id = au.account_id
WHERE au.user_id = ? ORDER BY a.id;

-- name: Membership
SELECT role, availability, auto_offline FROM account_users
WHERE account_id = ? AND user_id = ?;

-- name: LockMembership
-- A user's row in an account, locked for an update on PostgreSQL (the
-- presence sweep's, which must not interleave with a choice of the user's).
SELECT user_id FROM account_users WHERE account_id = ? AND user_id = ?;

-- name: InsertMembership
INSERT INTO account_users (account_id, user_id, role, availability, auto_offline, created_at)
VALUES (?, ?, ?, ?, ?, ?);

-- name: UpdateMembership
UPDATE account_users SET role = ?, availability = ?, auto_offline = ?
WHERE account_id = ? AND user_id = ?;

-- name: DeleteMembership
DELETE FROM account_users WHERE account_id = ? AND user_id = ?;

-- name: CountAdministrators
SELECT count(*) FROM account_users WHERE account_id = ? AND role = 'administrator';

-- name: InsertSession
INSERT INTO sessions (token_hash, user_id, created_at) VALUES (?, ?, ?);

-- name: DeleteSession
DELETE FROM sessions WHERE token_hash = ?;

-- name: Agent
SELECT u.id, au.account_id, u.name, u.email, au.role, au.availability, au.auto_offline
FROM account_users au JOIN users u ON u.id = au.user_id
WHERE au.account_id = ? AND au.user_id = ?;

-- name: AgentLocked
-- Agent, read for a write that depends on the user's place in the account:
-- an assignee's role, a new member. PostgreSQL share-locks the place, so
-- that such a write and a change of it (a demotion, a removal, going
-- offline: each updates the row before it reads the user's conversations
-- and inboxes) come one after the other. SQLite's one writer does that
-- already.
SELECT u.id, au.account_id, u.name, u.email, au.role, au.availability, au.auto_offline
FROM account_users au JOIN users u ON u.id = au.user_id
WHERE au.account_id = ? AND au.user_id = ?;

-- name: AgentsOfAccount
SELECT u.id, au.account_id, u.name, u.email, au.role, au.availability, au.auto_offline
FROM account_users au JOIN users u ON u.id = au.user_id
WHERE au.account_id = ? ORDER BY u.id;

-- name: InsertInbox
INSERT INTO inboxes (account_id, name, webhook_url, enable_auto_assignment, enable_auto_reassignment,
                     max_assignment_limit, assignment_mode, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id;

-- name: Inbox
SELECT name, webhook_url, enable_auto_assignment, enable_auto_reassignment,
       max_assignment_limit, assignment_mode, rotation_last_user_id
FROM inboxes WHERE id = ? AND account_id = ?;

-- name: InboxesOfAccount
SELECT id, name, webhook_url, enable_auto_assignment, enable_auto_reassignment,
       max_assignment_limit, assignment_mode
FROM inboxes WHERE account_id = ? ORDER BY id;

-- name: InboxesOfMember
SELECT i.id, i.name, i.webhook_url, i.enable_auto_assignment, i.enable_auto_reassignment,
       i.max_assignment_limit, i.assignment_mode
FROM inboxes i JOIN inbox_members m ON m.inbox_id = i.id
WHERE i.account_id = ? AND m.user_id = ? ORDER BY i.id;

-- name: UpdateInbox
UPDATE inboxes SET name = ?, enable_auto_assignment = ?, enable_auto_reassignment = ?,
       max_assignment_limit = ?, assignment_mode = ?
WHERE id = ?;

-- name: SetRotation
UPDATE inboxes SET rotation_last_user_id = ? WHERE id = ?;

-- name: IsMember
SELECT count(*) FROM inbox_members WHERE inbox_id = ? AND user_id = ?;

-- name: InboxMembers
-- What a routing decision needs of the members, in id order, in one query:
-- availability and the open conversations of the inbox each holds.
SELECT m.user_id, au.availability,
       (SELECT count(*) FROM conversations c
        WHERE c.inbox_id = m.inbox_id AND c.assignee_id = m.user_id AND c.status = 'open')
FROM inbox_members m
JOIN inboxes i ON i.id = m.inbox_id
JOIN account_users au ON au.account_id = i.account_id AND au.user_id = m.user_id
WHERE m.inbox_id = ? ORDER BY m.user_id;

-- name: InboxMembersNoLoad
-- InboxMembers without the load, for a round robin without a limit, whose
-- picks do not depend on it: counting the open conversations of an agent
-- going offline with ten thousand was a millisecond per step of their
-- reassignment.
SELECT m.user_id, au.availability, 0
FROM inbox_members m
JOIN inboxes i ON i.id = m.inbox_id
JOIN account_users au ON au.account_id = i.account_id AND au.user_id = m.user_id
WHERE m.inbox_id = ? ORDER BY m.user_id;

-- name: MemberAgents
SELECT u.id, au.account_id, u.name, u.email, au.role, au.availability, au.auto_offline
FROM inbox_members m
JOIN users u ON u.id = m.user_id
JOIN account_users au ON au.user_id = m.user_id
WHERE au.account_id = ? AND m.inbox_id = ? ORDER BY u.id;

-- name: InsertMember
INSERT INTO inbox_members (inbox_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING;

-- name: DeleteMember
DELETE FROM inbox_members WHERE inbox_id = ? AND user_id = ?;

-- name: DeleteMembershipsInAcc
-- Removes a user from every inbox of an account.
DELETE FROM inbox_members
WHERE user_id = ? AND inbox_id IN (SELECT id FROM inboxes WHERE account_id = ?);

-- name: InsertConversation
-- With its assignee when the create already knows it (given, or the
-- rotation's pick); the event and the rotation follow (see InsertCreated in
-- postgres.sql).
INSERT INTO conversations (account_id, display_id, inbox_id, status, contact_id, source_id, assignee_id, created_at, last_activity_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id;

-- name: ConversationByDisplay
SELECT c.id, c.display_id, c.inbox_id, c.status, c.assignee_id, c.contact_id, c.source_id,
       c.snoozed_until, c.created_at, c.last_activity_at,
       u.name, u.email, au.role, au.availability, au.auto_offline, c.waiting_since,
       CASE WHEN c.waiting_since IS NULL THEN 0 ELSE
         (SELECT count(*) FROM conversations w WHERE w.inbox_id = c.inbox_id AND w.waiting_since IS NOT NULL
          AND (w.waiting_since < c.waiting_since OR (w.waiting_since = c.waiting_since AND w.id <= c.id)))
       END
FROM conversations c
LEFT JOIN users u ON u.id = c.assignee_id
LEFT JOIN account_users au ON au.account_id = c.account_id AND au.user_id = c.assignee_id
WHERE c.account_id = ? AND c.display_id = ?;

-- name: CountConversations
-- Parameters: user; account; four statuses; inbox twice; is administrator;
-- user. The statuses are the one asked for four times, or every one for
-- "all" (statusesOf): a list the database seeks in conversations_activity,
-- where "all, or this one" read every conversation the account ever had,
-- the resolved ones too, to count the open. On SQLite the index holds the
-- assignee and the inbox too (migration 0010): the count reads it alone.
-- "0 for none" parameters are cast: from the bare 0, PostgreSQL would type
-- them as 4-byte integers and refuse an id above 2^31 - 1.
SELECT
  coalesce(sum(CASE WHEN c.assignee_id = ? THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN c.assignee_id IS NULL THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN c.assignee_id IS NOT NULL THEN 1 ELSE 0 END), 0),
  count(*)
FROM conversations c
WHERE c.account_id = ?
  AND c.status IN (?, ?, ?, ?)
  AND (CAST(? AS BIGINT) = 0 OR c.inbox_id = ?)
  AND (? OR EXISTS (SELECT 1 FROM inbox_members m WHERE m.inbox_id = c.inbox_id AND m.user_id = ?));

-- name: ListConversations
-- Parameters: account; four statuses (as CountConversations); inbox twice;
-- is administrator; user;
-- assignee type twice; user; assignee type twice; limit; offset.
-- The page is chosen first; then the places in the queue of its waiting
-- rows come from one ordered pass over the queues of their inboxes (a
-- count per row would walk the queue up to each). Each row comes with its
-- last message, as Chatwoot's list shows it.
WITH page AS (
  SELECT c.* FROM conversations c
  WHERE c.account_id = ?
    AND c.status IN (?, ?, ?, ?)
    AND (CAST(? AS BIGINT) = 0 OR c.inbox_id = ?)
    AND (? OR EXISTS (SELECT 1 FROM inbox_members m WHERE m.inbox_id = c.inbox_id AND m.user_id = ?))
    AND (? = 'all'
         OR (? = 'me' AND c.assignee_id = ?)
         OR (? = 'unassigned' AND c.assignee_id IS NULL)
         OR (? = 'assigned' AND c.assignee_id IS NOT NULL))
  ORDER BY c.last_activity_at DESC, c.id DESC
  LIMIT ? OFFSET ?
), queue AS (
  SELECT w.id, row_number() OVER (PARTITION BY w.inbox_id ORDER BY w.waiting_since, w.id) AS place
  FROM conversations w
  WHERE w.waiting_since IS NOT NULL
    AND w.inbox_id IN (SELECT inbox_id FROM page WHERE waiting_since IS NOT NULL)
)
SELECT c.id, c.display_id, c.inbox_id, c.status, c.assignee_id, c.contact_id, c.source_id,
       c.snoozed_until, c.created_at, c.last_activity_at,
       u.name, u.email, au.role, au.availability, au.auto_offline, c.waiting_since,
       COALESCE(q.place, 0), lm.id, lm.content, lm.created_at
FROM page c
LEFT JOIN queue q ON q.id = c.id
LEFT JOIN users u ON u.id = c.assignee_id
LEFT JOIN account_users au ON au.account_id = c.account_id AND au.user_id = c.assignee_id
LEFT JOIN messages lm ON lm.id = (SELECT max(m.id) FROM messages m WHERE m.conversation_id = c.id)
ORDER BY c.last_activity_at DESC, c.id DESC;

-- name: SetAssignee
-- A conversation that gets an assignee, or is unassigned, leaves the queue.
UPDATE conversations SET assignee_id = ?, waiting_since = NULL, last_activity_at = ? WHERE id = ?
RETURNING display_id, inbox_id;

-- name: SnoozedDue
-- The snoozed conversations whose time to wake has come since a time, the
-- longest due first. Parameters: since; now; limit.
SELECT account_id, display_id FROM conversations
WHERE status = 'snoozed' AND snoozed_until > ? AND snoozed_until <= ?
ORDER BY snoozed_until LIMIT ?;

-- name: SetStatus
-- Only an open conversation waits.
UPDATE conversations SET status = ?, snoozed_until = ?, last_activity_at = ?,
       waiting_since = CASE WHEN status = 'open' AND ? = 'open' THEN waiting_since END
WHERE id = ?;

-- name: AssignedTo
-- A user's conversations in an account, grouped by inbox, each with whether
-- the user is still a member of its inbox.
SELECT c.id, c.display_id, c.inbox_id, c.status, (m.user_id IS NOT NULL)
FROM conversations c
LEFT JOIN inbox_members m ON m.inbox_id = c.inbox_id AND m.user_id = c.assignee_id
WHERE c.account_id = ? AND c.assignee_id = ?
ORDER BY c.inbox_id, c.id;

-- name: ReassignableOf
-- The next of the conversations that a user who went offline is to lose, in
-- id order after a given id: theirs, not resolved, in inboxes that reassign,
-- and with no assignment event after the bound (one assigned to them since
-- they went offline stays theirs).
SELECT c.id, c.display_id, c.inbox_id, c.status, (m.user_id IS NOT NULL)
FROM conversations c
JOIN inboxes i ON i.id = c.inbox_id
LEFT JOIN inbox_members m ON m.inbox_id = c.inbox_id AND m.user_id = c.assignee_id
WHERE c.account_id = ? AND c.assignee_id = ? AND c.id > ?
  AND c.status <> 'resolved' AND i.enable_auto_reassignment
  AND NOT EXISTS (SELECT 1 FROM assignment_events e WHERE e.conversation_id = c.id AND e.id > ?)
ORDER BY c.id
LIMIT ?;

-- name: EventsHighWater
SELECT coalesce(max(id), 0) FROM assignment_events;

-- name: ReassignBound
SELECT reassign_bound, reassign_actor FROM account_users
WHERE account_id = ? AND user_id = ? AND reassign_bound IS NOT NULL;

-- name: SetReassignBound
UPDATE account_users SET reassign_bound = ?, reassign_actor = ?
WHERE account_id = ? AND user_id = ?;

-- name: ClearReassignBound
-- Only the bound that the finished reassignment worked to: a newer one, set
-- by the user going offline again meanwhile, stays for its own.
UPDATE account_users SET reassign_bound = NULL, reassign_actor = NULL
WHERE account_id = ? AND user_id = ? AND reassign_bound = ?;

-- name: PendingReassignments
SELECT account_id, user_id FROM account_users
WHERE reassign_bound IS NOT NULL
ORDER BY account_id, user_id;

-- name: InsertMessage
INSERT INTO messages (conversation_id, content, created_at) VALUES (?, ?, ?) RETURNING id;

-- name: MessagesOf
SELECT id, content, created_at FROM messages WHERE conversation_id = ? ORDER BY id;

-- name: MoveConversations
-- SetAssignee for many conversations in one statement (a mass reassignment):
-- the second parameter is a JSON array of [conversation id, assignee id or
-- null] pairs. SQLite's only, as are InsertEvents and SetWaitingAll:
-- PostgreSQL writes all three and the rotation in one (MoveAll).
UPDATE conversations SET assignee_id = json_extract(j.value, '$[1]'), waiting_since = NULL,
                         last_activity_at = ?
FROM json_each(?) AS j
WHERE conversations.id = json_extract(j.value, '$[0]');

-- name: InsertEvents
-- InsertEvent for the same pairs, in their order.
INSERT INTO assignment_events (account_id, conversation_id, from_assignee_id, to_assignee_id, reason, actor_id, created_at)
SELECT ?, json_extract(value, '$[0]'), ?, json_extract(value, '$[1]'), ?, ?, ?
FROM json_each(?) ORDER BY key;

-- name: SetWaitingAll
-- SetWaiting for a JSON array of conversation ids.
UPDATE conversations SET waiting_since = ? WHERE id IN (SELECT value FROM json_each(?));

-- name: InsertEvent
INSERT INTO assignment_events (account_id, conversation_id, from_assignee_id, to_assignee_id, reason, actor_id, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: EventsOf
SELECT id, from_assignee_id, to_assignee_id, reason, actor_id, created_at
FROM assignment_events WHERE conversation_id = ? ORDER BY id;

-- name: LockInbox
-- Taken by every write that routes in one inbox, before it reads what the
-- routing needs (the columns of Inbox). SQLite's write transaction already
-- excludes other writers; PostgreSQL locks the row.
SELECT name, webhook_url, enable_auto_assignment, enable_auto_reassignment,
       max_assignment_limit, assignment_mode, rotation_last_user_id
FROM inboxes WHERE id = ? AND account_id = ?;

-- name: LockInboxesOfAccount
-- Taken first by every change of a user that may move conversations in any
-- inbox of the account, in id order so that lockers never deadlock.
SELECT id FROM inboxes WHERE account_id = ? ORDER BY id;

-- name: InboxesOfMembers
-- Locked first when members may leave an inbox: the inbox, and the inboxes
-- where its members hold conversations (a member who leaves has them read
-- again under their locks), in id order. Parameters: account; inbox;
-- inbox; account.
SELECT id FROM inboxes
WHERE account_id = ?
  AND (id = ?
       OR id IN (SELECT c.inbox_id FROM conversations c JOIN inbox_members m ON m.user_id = c.assignee_id
                 WHERE m.inbox_id = ? AND c.account_id = ?))
ORDER BY id;

-- name: InboxesOfUser
-- Locked first when a user goes offline: the inboxes where their availability
-- enters the routing (they are a member) and those where they hold
-- conversations, in id order. Parameters: account; user; account; user.
SELECT id FROM inboxes
WHERE account_id = ?
  AND (id IN (SELECT inbox_id FROM inbox_members WHERE user_id = ?)
       OR id IN (SELECT inbox_id FROM conversations WHERE account_id = ? AND assignee_id = ?))
ORDER BY id;

-- name: ConversationInbox
SELECT inbox_id FROM conversations WHERE account_id = ? AND display_id = ?;

-- name: SetWaiting
UPDATE conversations SET waiting_since = ? WHERE id = ?;

-- name: QueueLength
SELECT count(*) FROM conversations WHERE inbox_id = ? AND waiting_since IS NOT NULL;

-- name: Queue
-- The waiting queue of an inbox, in order.
SELECT id FROM conversations WHERE inbox_id = ? AND waiting_since IS NOT NULL
ORDER BY waiting_since, id;

-- name: JoinQueue
-- Auto-assignment switched on: the inbox's unassigned open conversations
-- become its queue, in order of arrival.
UPDATE conversations SET waiting_since = created_at
WHERE inbox_id = ? AND status = 'open' AND assignee_id IS NULL AND waiting_since IS NULL;

-- name: AutoInboxesOfMember
-- The inboxes with auto-assignment on where a user is a member, in id order
-- (read under the locks of MemberInboxes: placing their queues follows).
SELECT i.id FROM inboxes i JOIN inbox_members m ON m.inbox_id = i.id
WHERE i.account_id = ? AND m.user_id = ? AND i.enable_auto_assignment
ORDER BY i.id;

-- name: MemberInboxes
-- The inboxes where a user is a member, in id order (locked on PostgreSQL,
-- LockMemberInboxes).
SELECT i.id FROM inboxes i JOIN inbox_members m ON m.inbox_id = i.id
WHERE i.account_id = ? AND m.user_id = ?
ORDER BY i.id;

-- name: ListQueue
SELECT c.id, c.display_id, c.inbox_id, c.status, c.assignee_id, c.contact_id, c.source_id,
       c.snoozed_until, c.created_at, c.last_activity_at,
       u.name, u.email, au.role, au.availability, au.auto_offline, c.waiting_since,
       CASE WHEN c.waiting_since IS NULL THEN 0 ELSE
         (SELECT count(*) FROM conversations w WHERE w.inbox_id = c.inbox_id AND w.waiting_since IS NOT NULL
          AND (w.waiting_since < c.waiting_since OR (w.waiting_since = c.waiting_since AND w.id <= c.id)))
       END
FROM conversations c
LEFT JOIN users u ON u.id = c.assignee_id
LEFT JOIN account_users au ON au.account_id = c.account_id AND au.user_id = c.assignee_id
WHERE c.inbox_id = ? AND c.waiting_since IS NOT NULL
ORDER BY c.waiting_since, c.id;

-- name: InsertConnection
INSERT INTO console_connections (account_id, user_id, process_id, heartbeat_at)
VALUES (?, ?, ?, ?) RETURNING id;

-- name: DeleteConnection
DELETE FROM console_connections WHERE id = ? RETURNING account_id, user_id;

-- name: NoteDisconnect
-- The user's last connection closed (none of theirs is left).
UPDATE account_users SET last_disconnected_at = ?
WHERE account_id = ? AND user_id = ?
  AND NOT EXISTS (SELECT 1 FROM console_connections cc
                  WHERE cc.account_id = account_users.account_id AND cc.user_id = account_users.user_id);

-- name: Heartbeat
UPDATE console_connections SET heartbeat_at = ? WHERE process_id = ?;

-- name: ForgetPresence
-- An explicit choice of availability: presence starts again from the next
-- console connection. Rows of dead processes go too.
UPDATE account_users SET last_disconnected_at = NULL WHERE account_id = ? AND user_id = ?;

-- name: DeleteStaleConnections
DELETE FROM console_connections WHERE account_id = ? AND user_id = ? AND heartbeat_at <= ?;

-- name: PresenceAway
-- Users with auto-offline on, not offline, with no fresh console connection,
-- whose last one closed (or whose process stopped beating) before the grace
-- cutoff. Parameters: fresh cutoff; grace cutoff; account (0 for all); user.
SELECT au.account_id, au.user_id FROM account_users au
WHERE au.auto_offline AND au.availability <> 'offline'
  AND NOT EXISTS (SELECT 1 FROM console_connections cc
                  WHERE cc.account_id = au.account_id AND cc.user_id = au.user_id AND cc.heartbeat_at > ?)
  AND coalesce(au.last_disconnected_at,
               (SELECT max(cc.heartbeat_at) FROM console_connections cc
                WHERE cc.account_id = au.account_id AND cc.user_id = au.user_id)) < ?
  AND (CAST(? AS BIGINT) = 0 OR (au.account_id = ? AND au.user_id = ?))
ORDER BY au.account_id, au.user_id;

-- name: QueueLengths
SELECT account_id, inbox_id, count(*) FROM conversations
WHERE waiting_since IS NOT NULL GROUP BY account_id, inbox_id ORDER BY account_id, inbox_id;

-- name: InsertWebhook
INSERT INTO webhooks (account_id, url, secret, subscriptions, created_at)
VALUES (?, ?, ?, ?, ?) RETURNING id;

-- name: WebhooksOfAccount
SELECT id, url, secret, subscriptions, created_at FROM webhooks WHERE account_id = ? ORDER BY id;

-- name: UpdateWebhook
-- Parameters: url or null (unchanged); subscriptions or null; id; account.
UPDATE webhooks SET url = COALESCE(?, url), subscriptions = COALESCE(?, subscriptions)
WHERE id = ? AND account_id = ?
RETURNING id, url, secret, subscriptions, created_at;

-- name: DeleteWebhook
DELETE FROM webhooks WHERE id = ? AND account_id = ?;

-- name: ConversationSnapshot
SELECT display_id, inbox_id, status, assignee_id, waiting_since, created_at, last_activity_at
FROM conversations WHERE id = ?;

-- name: InsertDelivery
INSERT INTO webhook_outbox (webhook_id, event, payload, conversation_id, next_attempt_at, created_at)
VALUES (?, ?, ?, ?, ?, ?);

-- name: ClaimDeliveries
-- Takes one webhook's due deliveries for a lease, so that another process
-- does not send them meanwhile, in the order of their events, but for
-- those with an earlier delivery of their conversation to the webhook that
-- is not due (leased, or waiting to be tried again): a conversation's
-- events go in order. It looks among the webhook's first 1000 deliveries
-- still to send, no further: past a run that long of deliveries waiting
-- behind their conversations' (a receiver refusing some events, or gone
-- dark), the rest wait until those are sent or given up. Parameters:
-- lease end; the claim's number (DeliveriesSucceeded); the webhook; now;
-- the webhook; now; limit. INDEXED BY: the webhook's deliveries still to
-- send, in id order, read from the first to the 1000th; the outbox's
-- other indexes would have it read every due delivery, or every delivery
-- kept after it was done.
UPDATE webhook_outbox SET next_attempt_at = ?, claim = ?
WHERE id IN (
  SELECT o.id FROM webhook_outbox o INDEXED BY webhook_outbox_queue
  WHERE o.webhook_id = ? AND o.next_attempt_at <= ?
    AND o.id <= COALESCE((SELECT q.id FROM webhook_outbox q INDEXED BY webhook_outbox_queue
                          WHERE q.webhook_id = ? AND q.next_attempt_at IS NOT NULL
                          ORDER BY q.id LIMIT 1 OFFSET 999), 9223372036854775807)
    AND NOT EXISTS (SELECT 1 FROM webhook_outbox e INDEXED BY webhook_outbox_pending
                    WHERE e.webhook_id = o.webhook_id AND e.conversation_id = o.conversation_id
                      AND e.id < o.id AND e.next_attempt_at > ?)
  ORDER BY o.id LIMIT ?)
RETURNING id, webhook_id, event, payload, attempts, conversation_id;

-- name: WebhooksDue
-- The webhooks with a delivery a claim would take (among their first 1000
-- still to send, as ClaimDeliveries looks), but for those given, the one
-- whose first such delivery is oldest first, up to a limit: asked on a
-- read connection before a claim, which is a write. MATERIALIZED: each
-- webhook's first is looked for once, not once for the WHERE and again for
-- the ORDER BY. Parameters: now; now; a JSON array of the webhooks' ids;
-- the limit.
WITH due AS MATERIALIZED (
  SELECT w.id, (SELECT o.id FROM webhook_outbox o INDEXED BY webhook_outbox_queue
                WHERE o.webhook_id = w.id AND o.next_attempt_at <= ?
                  AND o.id <= COALESCE((SELECT q.id FROM webhook_outbox q INDEXED BY webhook_outbox_queue
                                        WHERE q.webhook_id = w.id AND q.next_attempt_at IS NOT NULL
                                        ORDER BY q.id LIMIT 1 OFFSET 999), 9223372036854775807)
                  AND NOT EXISTS (SELECT 1 FROM webhook_outbox e INDEXED BY webhook_outbox_pending
                                  WHERE e.webhook_id = o.webhook_id AND e.conversation_id = o.conversation_id
                                    AND e.id < o.id AND e.next_attempt_at > ?)
                ORDER BY o.id LIMIT 1) AS first
  FROM webhooks w
  WHERE w.id NOT IN (SELECT value FROM json_each(?))
)
SELECT id FROM due WHERE first IS NOT NULL ORDER BY first LIMIT ?;

-- name: WebhookTargets
-- The url and secret of a JSON array of webhook ids.
SELECT id, url, secret FROM webhooks WHERE id IN (SELECT value FROM json_each(?));

-- name: DeliveriesSucceeded
-- Parameters: now; a JSON array of the deliveries' ids; the number of the
-- claim that took them, twice (NULL: whatever holds them). Those no
-- longer that claim's are left as they are; recorded, they are no
-- claim's, so that the same outcome written again changes nothing.
UPDATE webhook_outbox SET delivered_at = ?, next_attempt_at = NULL, attempts = attempts + 1, last_error = '', claim = NULL
WHERE id IN (SELECT value FROM json_each(?))
  AND (CAST(? AS BIGINT) IS NULL OR claim = ?);

-- name: PurgeCutoff
-- The first delivery made at or after a time: those before it are older.
SELECT id FROM webhook_outbox WHERE created_at >= ? ORDER BY id LIMIT 1;

-- name: PurgeDeliveries
-- Deletes up to a limit of the deliveries that are done (sent, or given
-- up) between two ids, in id order, and returns their ids. Parameters:
-- after; before (PurgeCutoff's); the limit.
DELETE FROM webhook_outbox WHERE id IN (
  SELECT id FROM webhook_outbox
  WHERE id > ? AND id < ? AND next_attempt_at IS NULL
  ORDER BY id LIMIT ?)
RETURNING id;

-- name: DeliveryFailed
-- The claim as in DeliveriesSucceeded, after the delivery's id.
UPDATE webhook_outbox SET next_attempt_at = ?, attempts = attempts + 1, last_error = ?, claim = NULL
WHERE id = ? AND (CAST(? AS BIGINT) IS NULL OR claim = ?);

-- name: DeliveryUntried
-- Gives a claimed delivery back, due at a time, without counting an
-- attempt. The claim as in DeliveriesSucceeded, after the delivery's id.
UPDATE webhook_outbox SET next_attempt_at = ?, claim = NULL
WHERE id = ? AND (CAST(? AS BIGINT) IS NULL OR claim = ?);

-- name: RotationPick
-- What a pick in a round-robin inbox without a limit needs, in one query
-- asked of the indexes, so that it costs the same in an inbox of ten
-- thousand: the length of the inbox's queue, and the first of: the first
-- online member after the last pick, the first online member, the first
-- member after the last pick, the first member (COALESCE stops at the first
-- that exists). Parameters: account; inbox; last pick. PostgreSQL's
-- InsertCreated makes the same pick inside a create's statement, and
-- InsertCreatedBatch the same picks in turn for a batch of creates.
WITH p AS (SELECT CAST(? AS BIGINT) AS account, CAST(? AS BIGINT) AS inbox, CAST(? AS BIGINT) AS last)
SELECT
  (SELECT count(*) FROM conversations c WHERE c.inbox_id = p.inbox AND c.waiting_since IS NOT NULL),
  COALESCE(
    (SELECT m.user_id FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
     WHERE m.inbox_id = p.inbox AND au.availability = 'online' AND m.user_id > p.last ORDER BY m.user_id LIMIT 1),
    (SELECT m.user_id FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
     WHERE m.inbox_id = p.inbox AND au.availability = 'online' ORDER BY m.user_id LIMIT 1),
    (SELECT m.user_id FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
     WHERE m.inbox_id = p.inbox AND m.user_id > p.last ORDER BY m.user_id LIMIT 1),
    (SELECT m.user_id FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
     WHERE m.inbox_id = p.inbox ORDER BY m.user_id LIMIT 1))
FROM p;

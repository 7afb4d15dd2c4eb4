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

-- name: LockMembership
-- FOR NO KEY UPDATE, not FOR SHARE: the sweep updates the row next, and two
-- sweeps that each held a share lock of it would wait for each other.
SELECT user_id FROM account_users WHERE account_id = ? AND user_id = ? FOR NO KEY UPDATE;

-- name: AgentLocked
SELECT u.id, au.account_id, u.name, u.email, au.role, au.availability, au.auto_offline
FROM account_users au JOIN users u ON u.id = au.user_id
WHERE au.account_id = ? AND au.user_id = ? FOR SHARE OF au;

-- name: LockInboxesOfAccount
SELECT id FROM inboxes WHERE account_id = ? ORDER BY id FOR NO KEY UPDATE;

-- name: LockInboxesOfMembers
SELECT id FROM inboxes
WHERE account_id = ?
  AND (id = ?
       OR id IN (SELECT c.inbox_id FROM conversations c JOIN inbox_members m ON m.user_id = c.assignee_id
                 WHERE m.inbox_id = ? AND c.account_id = ?))
ORDER BY id FOR NO KEY UPDATE;

-- name: LockInboxesOfUser
SELECT id FROM inboxes
WHERE account_id = ?
  AND (id IN (SELECT inbox_id FROM inbox_members WHERE user_id = ?)
       OR id IN (SELECT inbox_id FROM conversations WHERE account_id = ? AND assignee_id = ?))
ORDER BY id FOR NO KEY UPDATE;

-- name: LockInboxesByID
-- The inboxes of a JSON array of ids, in id order: those a reassignment's
-- first transaction locked, taken again by each of its later steps.
SELECT id FROM inboxes
WHERE account_id = ? AND id IN (SELECT x::bigint FROM jsonb_array_elements_text(?::jsonb) AS t(x))
ORDER BY id FOR NO KEY UPDATE;

-- name: LockMemberInboxes
SELECT i.id FROM inboxes i JOIN inbox_members m ON m.inbox_id = i.id
WHERE i.account_id = ? AND m.user_id = ?
ORDER BY i.id FOR NO KEY UPDATE OF i;

-- name: ClaimDeliveries
-- The processes' claims take turns (ClaimDeliveries takes an advisory
-- lock first), so that each sees the leases of the one before: otherwise
-- one could take a conversation's next delivery while another claims its
-- first. SKIP LOCKED passes over the rows an outcome is being recorded for.
-- The webhook named as any of a one-element array, in the order of
-- (webhook, id): only webhook_outbox_queue gives that order, where with an
-- equality the planner may walk the primary key in id order instead,
-- through every delivery kept after it was done, thinking the due ones
-- spread among them. Unlike SQLite's, the claim looks as far into the
-- webhook's queue as it takes: finding SQLite's bound, its 1000th delivery
-- still to send, costs PostgreSQL a visit to the table for each of them,
-- in every claim (deliveries ended 19-23 s after the creates instead of
-- 3 s), and a claim here holds no lock the creates wait for. (The
-- webhook's id a second time stands for the bound's parameter.)
UPDATE webhook_outbox SET next_attempt_at = ?, claim = ?
WHERE id IN (
  SELECT o.id FROM webhook_outbox o
  WHERE o.webhook_id = ANY (ARRAY[?]::bigint[]) AND o.next_attempt_at <= ?
    AND CAST(? AS BIGINT) IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM webhook_outbox e
                    WHERE e.webhook_id = o.webhook_id AND e.conversation_id = o.conversation_id
                      AND e.id < o.id AND e.next_attempt_at > ?)
  ORDER BY o.webhook_id, o.id LIMIT ?
  FOR UPDATE OF o SKIP LOCKED)
RETURNING id, webhook_id, event, payload, attempts, conversation_id;

-- name: PurgeDeliveries
-- The ids as an array: PostgreSQL then deletes each by its key, where a
-- generic plan of IN (...) may scan the whole outbox.
DELETE FROM webhook_outbox WHERE id = ANY (ARRAY(
  SELECT id FROM webhook_outbox
  WHERE id > ? AND id < ? AND next_attempt_at IS NULL
  ORDER BY id LIMIT ?))
RETURNING id;

-- name: WebhooksDue
-- The one-element array, the order of (webhook, id) and no bound, as in
-- ClaimDeliveries.
WITH due AS MATERIALIZED (
  SELECT w.id, (SELECT o.id FROM webhook_outbox o
                WHERE o.webhook_id = ANY (ARRAY[w.id]) AND o.next_attempt_at <= ?
                  AND NOT EXISTS (SELECT 1 FROM webhook_outbox e
                                  WHERE e.webhook_id = o.webhook_id AND e.conversation_id = o.conversation_id
                                    AND e.id < o.id AND e.next_attempt_at > ?)
                ORDER BY o.webhook_id, o.id LIMIT 1) AS first
  FROM webhooks w
  WHERE w.id NOT IN (SELECT x::bigint FROM jsonb_array_elements_text(?::jsonb) AS t(x))
)
SELECT id FROM due WHERE first IS NOT NULL ORDER BY first LIMIT ?;

-- name: WebhookTargets
SELECT id, url, secret FROM webhooks
WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(?::jsonb) AS t(x));

-- name: DeliveriesSucceeded
UPDATE webhook_outbox SET delivered_at = ?, next_attempt_at = NULL, attempts = attempts + 1, last_error = '', claim = NULL
WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(?::jsonb) AS t(x))
  AND (CAST(? AS BIGINT) IS NULL OR claim = ?);

-- name: MoveAll
-- A reassignment's moves in one inbox, written in one statement (SQLite
-- runs MoveConversations, InsertEvents and SetWaitingAll, then
-- SetRotation): each statement would be a round trip while the step holds
-- its inboxes' routing locks. Parameters: a JSON array of
-- {"id", "to" (null: none), "wait"} in the order of the decisions; now;
-- account; the user they move from; reason; actor; inbox; the rotation's
-- new last pick (null: unchanged).
WITH j AS (
  SELECT (t.value->>'id')::bigint AS id, (t.value->>'to')::bigint AS assignee,
         (t.value->>'wait')::boolean AS wait, t.n
  FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS t(value, n)
), p AS (
  SELECT ?::bigint AS now, ?::bigint AS account, ?::bigint AS from_user, ?::text AS reason,
         ?::bigint AS actor, ?::bigint AS inbox, ?::bigint AS last_pick
), moved AS (
  UPDATE conversations SET assignee_id = j.assignee, last_activity_at = p.now,
                           waiting_since = CASE WHEN j.wait THEN p.now END
  FROM j, p WHERE conversations.id = j.id
), events AS (
  INSERT INTO assignment_events (account_id, conversation_id, from_assignee_id, to_assignee_id, reason, actor_id, created_at)
  SELECT p.account, j.id, p.from_user, j.assignee, p.reason, p.actor, p.now FROM j, p ORDER BY j.n
)
UPDATE inboxes SET rotation_last_user_id = p.last_pick
FROM p WHERE inboxes.id = p.inbox AND p.last_pick IS NOT NULL;

-- name: InsertCreated
-- A create's writes and reply in one statement, each of which would be a
-- round trip under the inbox's routing lock (the lock is taken by the
-- statement before, so this one sees every decision before it). The
-- conversation's number comes from the account's sequence (migration 0005)
-- here, once the create has passed its checks: a refused create uses none
-- (a rolled-back one still leaves a gap, as in Chatwoot). In order:
-- the decision: the assignee given (by the caller, or the pick the store
-- made), or, when pick_here, RotationPick's pick unless others wait;
-- InsertConversation with it; InsertMessage unless the content is empty;
-- InsertEvent when it has an assignee; SetRotation when the rotation moved;
-- and ConversationByDisplay's columns (not waiting: a create left without
-- an assignee is queued after, and read again) with the message's id. A
-- create whose key a conversation has already (migration 0009) writes
-- nothing and returns no row: it holds the inbox's lock, which the create
-- that wrote the key held to its commit.
-- The pick is RotationPick's (queries.sql) and must stay so; the
-- conformance suite's round-robin tests run through both (and through
-- InsertCreatedBatch, which makes the creates of an administrator).
WITH given AS (
  SELECT ?::bigint AS account, ?::bigint AS inbox, ?::text AS status,
         ?::bigint AS contact, ?::text AS source, ?::bigint AS assignee, ?::bigint AS now,
         ?::text AS content, ?::text AS reason, ?::bigint AS actor, ?::bigint AS last_pick,
         ?::boolean AS pick_here, ?::bigint AS last, ?::text AS create_key
), p AS (
  SELECT given.*, nextval(('conversation_display_ids_' || given.account)::regclass) AS display FROM given
), r AS (
  SELECT
    CASE WHEN NOT EXISTS (SELECT 1 FROM conversations w WHERE w.inbox_id = p.inbox AND w.waiting_since IS NOT NULL) THEN
      COALESCE(
        (SELECT m.user_id FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
         WHERE m.inbox_id = p.inbox AND au.availability = 'online' AND m.user_id > p.last ORDER BY m.user_id LIMIT 1),
        (SELECT m.user_id FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
         WHERE m.inbox_id = p.inbox AND au.availability = 'online' ORDER BY m.user_id LIMIT 1),
        (SELECT m.user_id FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
         WHERE m.inbox_id = p.inbox AND m.user_id > p.last ORDER BY m.user_id LIMIT 1),
        (SELECT m.user_id FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
         WHERE m.inbox_id = p.inbox ORDER BY m.user_id LIMIT 1))
    END AS pick
  FROM p WHERE p.pick_here
), d AS (
  SELECT COALESCE(p.assignee, r.pick) AS assignee,
         CASE WHEN r.pick IS NULL THEN p.reason ELSE 'auto' END AS reason,
         COALESCE(p.last_pick, r.pick) AS last_pick
  FROM p LEFT JOIN r ON TRUE
), c AS (
  INSERT INTO conversations (account_id, display_id, inbox_id, status, contact_id, source_id, assignee_id, created_at, last_activity_at, create_key)
  SELECT p.account, p.display, p.inbox, p.status, p.contact, p.source, d.assignee, p.now, p.now, p.create_key FROM p, d
  WHERE p.create_key IS NULL OR NOT EXISTS (SELECT 1 FROM conversations k WHERE k.create_key = p.create_key)
  RETURNING id, account_id, display_id, inbox_id, status, assignee_id, contact_id, source_id, snoozed_until,
            created_at, last_activity_at, waiting_since
), m AS (
  INSERT INTO messages (conversation_id, content, created_at)
  SELECT c.id, p.content, p.now FROM c, p WHERE p.content <> ''
  RETURNING id
), e AS (
  INSERT INTO assignment_events (account_id, conversation_id, from_assignee_id, to_assignee_id, reason, actor_id, created_at)
  SELECT c.account_id, c.id, NULL, c.assignee_id, d.reason, p.actor, p.now FROM c, d, p
  WHERE c.assignee_id IS NOT NULL
), rot AS (
  UPDATE inboxes SET rotation_last_user_id = d.last_pick FROM d, c
  WHERE inboxes.id = c.inbox_id AND d.last_pick IS NOT NULL
)
SELECT c.id, c.display_id, c.inbox_id, c.status, c.assignee_id, c.contact_id, c.source_id,
       c.snoozed_until, c.created_at, c.last_activity_at,
       u.name, u.email, au.role, au.availability, au.auto_offline, c.waiting_since, 0,
       (SELECT id FROM m)
FROM c
LEFT JOIN users u ON u.id = c.assignee_id
LEFT JOIN account_users au ON au.account_id = c.account_id AND au.user_id = c.assignee_id;

-- name: InsertCreatedBatch
-- The creates of an inbox batch (together.go) in one statement, where each
-- of them would be an InsertCreated and a round trip under the inbox's
-- lock. It runs after LockInbox, in its transaction (sent together, one
-- round trip for both and the commit), so that it sees every decision
-- before it. Only for creates InsertCreated would route with pick_here:
-- open, no assignee given, by an administrator (the caller checks these),
-- in an inbox of the account with auto-assignment on, round-robin and no
-- limit, that has members and nothing in its queue, in an account without
-- webhooks unless the last parameter says the caller writes their
-- deliveries (InsertDeliveries, in the same transaction). Then the batch's j-th create (those with a key made before
-- left out) gets the rotation's j-th pick after the last, as it would one
-- by one: the first candidate after the last pick, wrapping round to the
-- first, the candidates being the online members, or all of them when none
-- is online (RotationPick's rules). When a condition fails the statement
-- writes nothing and returns no row, and the batch makes its creates one
-- by one. A create whose key a conversation has, or a create before it in
-- the batch, writes nothing, takes no pick and returns no row. Parameters:
-- inbox; account; then, one element per create in arrival order:
-- contacts, sources, times, message contents ('' for none), keys; and
-- whether the caller writes the webhooks' deliveries. The rows
-- come in arrival order, each with its place (1-based), then
-- InsertCreated's columns.
WITH p AS (
  SELECT i.account_id AS account, i.id AS inbox, i.rotation_last_user_id AS last FROM inboxes i
  WHERE i.id = ? AND i.account_id = ? AND i.enable_auto_assignment
    AND i.assignment_mode = 'round_robin' AND i.max_assignment_limit = 0
), given AS (
  SELECT g.* FROM unnest(?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::text[]) WITH ORDINALITY
    AS g(contact, source, now, content, create_key, ord)
), fresh AS (
  -- The key is looked up create by create (LATERAL ... LIMIT 1): as an
  -- EXISTS under an OR, a generic plan made while the table was small may
  -- hash every stored key instead, which grows with the table.
  SELECT g.*, row_number() OVER (ORDER BY g.ord) - 1 AS j FROM given g
  LEFT JOIN LATERAL (SELECT 1 AS made FROM conversations k
                     WHERE g.create_key IS NOT NULL AND k.create_key = g.create_key LIMIT 1) k ON TRUE
  WHERE k.made IS NULL AND NOT EXISTS (SELECT 1 FROM given e WHERE e.create_key = g.create_key AND e.ord < g.ord)
), ok AS (
  SELECT p.*, EXISTS (SELECT 1 FROM inbox_members m JOIN account_users au ON au.account_id = p.account AND au.user_id = m.user_id
                      WHERE m.inbox_id = p.inbox AND au.availability = 'online') AS any_online
  FROM p
  WHERE NOT EXISTS (SELECT 1 FROM conversations w WHERE w.inbox_id = p.inbox AND w.waiting_since IS NOT NULL)
    AND (?::boolean OR NOT EXISTS (SELECT 1 FROM webhooks h WHERE h.account_id = p.account))
), after_last AS (
  SELECT user_id, row_number() OVER (ORDER BY user_id) - 1 AS pos FROM (
    SELECT m.user_id FROM ok, inbox_members m JOIN account_users au ON au.user_id = m.user_id
    WHERE au.account_id = ok.account AND m.inbox_id = ok.inbox AND m.user_id > ok.last
      AND (au.availability = 'online' OR NOT ok.any_online)
    ORDER BY m.user_id LIMIT (SELECT count(*) FROM fresh)) x
), from_first AS (
  SELECT user_id, row_number() OVER (ORDER BY user_id) - 1 AS pos FROM (
    SELECT m.user_id FROM ok, inbox_members m JOIN account_users au ON au.user_id = m.user_id
    WHERE au.account_id = ok.account AND m.inbox_id = ok.inbox
      AND (au.availability = 'online' OR NOT ok.any_online)
    ORDER BY m.user_id LIMIT (SELECT count(*) FROM fresh)) x
), counts AS (
  SELECT (SELECT count(*) FROM after_last) AS a, (SELECT count(*) FROM from_first) AS n
), picked AS (
  SELECT f.*, CASE WHEN f.j < counts.a THEN (SELECT user_id FROM after_last WHERE pos = f.j)
                   ELSE (SELECT user_id FROM from_first WHERE pos = (f.j - counts.a) % counts.n) END AS pick
  FROM fresh f, counts WHERE counts.n > 0
), numbered AS (
  SELECT picked.*, nextval(('conversation_display_ids_' || p.account)::regclass) AS display
  FROM picked, p ORDER BY picked.ord
), c AS (
  INSERT INTO conversations (account_id, display_id, inbox_id, status, contact_id, source_id, assignee_id, created_at, last_activity_at, create_key)
  SELECT p.account, n.display, p.inbox, 'open', n.contact, n.source, n.pick, n.now, n.now, n.create_key
  FROM numbered n, p ORDER BY n.ord
  RETURNING id, account_id, display_id, inbox_id, status, assignee_id, contact_id, source_id, snoozed_until,
            created_at, last_activity_at, waiting_since
), m AS (
  INSERT INTO messages (conversation_id, content, created_at)
  SELECT c.id, n.content, n.now FROM c JOIN numbered n ON n.display = c.display_id
  WHERE n.content <> '' ORDER BY n.ord
  RETURNING id, conversation_id
), e AS (
  INSERT INTO assignment_events (account_id, conversation_id, from_assignee_id, to_assignee_id, reason, actor_id, created_at)
  SELECT c.account_id, c.id, NULL, c.assignee_id, 'auto', NULL, n.now FROM c JOIN numbered n ON n.display = c.display_id
  ORDER BY n.ord
), rot AS (
  UPDATE inboxes SET rotation_last_user_id = (SELECT n.pick FROM numbered n ORDER BY n.ord DESC LIMIT 1)
  FROM p WHERE inboxes.id = p.inbox AND EXISTS (SELECT 1 FROM numbered)
)
SELECT n.ord, c.id, c.display_id, c.inbox_id, c.status, c.assignee_id, c.contact_id, c.source_id,
       c.snoozed_until, c.created_at, c.last_activity_at,
       u.name, u.email, au.role, au.availability, au.auto_offline, c.waiting_since, 0,
       (SELECT m.id FROM m WHERE m.conversation_id = c.id)
FROM c
JOIN numbered n ON n.display = c.display_id
LEFT JOIN users u ON u.id = c.assignee_id
LEFT JOIN account_users au ON au.account_id = c.account_id AND au.user_id = c.assignee_id
ORDER BY n.ord;

-- name: InsertDeliveries
-- The webhooks' deliveries of creates made together (together.go), in
-- their order, due at once. Parameters: now; webhook ids, events,
-- payloads, conversations.
INSERT INTO webhook_outbox (webhook_id, event, payload, conversation_id, next_attempt_at, created_at)
SELECT d.webhook, d.event, d.payload, d.conversation, p.now, p.now
FROM (SELECT ?::bigint AS now) p,
     unnest(?::bigint[], ?::text[], ?::text[], ?::bigint[]) WITH ORDINALITY AS d(webhook, event, payload, conversation, ord)
ORDER BY d.ord;

-- name: ConversationByKey
SELECT display_id FROM conversations WHERE create_key = ? AND account_id = ?;

-- name: RegisterProcess
INSERT INTO route_processes (backend_pid, address, token, started_at)
VALUES (pg_backend_pid(), ?, ?, ?)
ON CONFLICT (backend_pid) DO UPDATE
SET address = excluded.address, token = excluded.token, started_at = excluded.started_at;

-- name: UnregisterProcess
DELETE FROM route_processes WHERE backend_pid = pg_backend_pid();

-- name: TryLead
SELECT pg_try_advisory_lock(?::int4, ?::int4);

-- name: ReleaseLead
SELECT pg_advisory_unlock(?::int4, ?::int4);

-- name: InboxLeader
-- The process whose lead connection holds the inbox's advisory lock (the
-- two-key form, objsubid 2) in this database.
SELECT p.address, p.token
FROM pg_locks l JOIN route_processes p ON p.backend_pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = ?::int4::oid AND l.objid = ?::int4::oid;

-- name: ListConversations
-- The list of queries.sql, its page chosen as PostgreSQL 15 can walk it.
-- From a list of statuses (c.status IN ...) no index gives an order, and
-- the page was sorted from every conversation of those statuses: 4.5 ms of
-- the list's 8 with 20,000 open ones (BENCHMARKS.md). Here each distinct
-- status walks conversations_activity from its newest and stops at the end
-- of the page, its limit plus its offset: $15 and $16, the statement's last
-- two parameters (the sum kept within a BIGINT); the page is cut from what
-- they found. The same parameters, in the same order, as queries.sql's.
WITH page AS (
  SELECT c.* FROM (SELECT CAST(? AS BIGINT) AS account, ARRAY[?, ?, ?, ?]::text[] AS statuses) p
  CROSS JOIN LATERAL (SELECT DISTINCT unnest(p.statuses) AS status) s
  CROSS JOIN LATERAL (
    SELECT c.* FROM conversations c
    WHERE c.account_id = p.account AND c.status = s.status
      AND (CAST(? AS BIGINT) = 0 OR c.inbox_id = ?)
      AND (? OR EXISTS (SELECT 1 FROM inbox_members m WHERE m.inbox_id = c.inbox_id AND m.user_id = ?))
      AND (? = 'all'
           OR (? = 'me' AND c.assignee_id = ?)
           OR (? = 'unassigned' AND c.assignee_id IS NULL)
           OR (? = 'assigned' AND c.assignee_id IS NOT NULL))
    ORDER BY c.last_activity_at DESC, c.id DESC
    LIMIT $15 + LEAST($16, 9223372036854775807 - $15)
  ) c
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

-- PostgreSQL's versions of the queries in queries.sql that differ. Several
-- processes write at once there, so the routing locks take row locks.

-- name: LockInbox
SELECT id FROM inboxes WHERE id = ? AND account_id = ? FOR UPDATE;

-- name: LockInboxesOfAccount
SELECT id FROM inboxes WHERE account_id = ? ORDER BY id FOR UPDATE;

-- name: AutoInboxesOfMember
SELECT i.id FROM inboxes i JOIN inbox_members m ON m.inbox_id = i.id
WHERE i.account_id = ? AND m.user_id = ? AND i.enable_auto_assignment
ORDER BY i.id FOR UPDATE OF i;

-- name: ClaimDeliveries
UPDATE webhook_outbox SET next_attempt_at = ?
WHERE id IN (SELECT id FROM webhook_outbox WHERE next_attempt_at <= ? ORDER BY id LIMIT ?
             FOR UPDATE SKIP LOCKED)
RETURNING id, webhook_id, event, payload, attempts;

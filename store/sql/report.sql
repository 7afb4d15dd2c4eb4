-- The routing report's SQL, one statement per "-- name:" block, loaded by
-- report.go (not by the queries struct of store.go). An administrator sees
-- every inbox of the account; an agent, the inboxes they are a member of.

-- name: ReportInboxes
-- Parameters: account; is administrator; user.
SELECT i.id, i.name FROM inboxes i
WHERE i.account_id = ?
  AND (? OR EXISTS (SELECT 1 FROM inbox_members m WHERE m.inbox_id = i.id AND m.user_id = ?))
ORDER BY i.id;

-- name: ReportAgents
-- The users of the account, each with whether they are a member of an inbox
-- the caller may see.
-- Parameters: is administrator; user; account.
SELECT u.id, u.name,
       EXISTS (SELECT 1 FROM inbox_members m JOIN inboxes i ON i.id = m.inbox_id
               WHERE m.user_id = u.id AND i.account_id = au.account_id
                 AND (? OR EXISTS (SELECT 1 FROM inbox_members me WHERE me.inbox_id = m.inbox_id AND me.user_id = ?)))
FROM account_users au JOIN users u ON u.id = au.user_id
WHERE au.account_id = ?
ORDER BY u.id;

-- name: ReportAssigned
-- Assignment events to someone in [since, until), by inbox, assignee and
-- reason. Parameters: since; until; account; is administrator; user.
SELECT c.inbox_id, e.to_assignee_id, e.reason, count(*)
FROM assignment_events e JOIN conversations c ON c.id = e.conversation_id
WHERE e.to_assignee_id IS NOT NULL AND e.created_at >= ? AND e.created_at < ?
  AND e.account_id = ? AND c.account_id = e.account_id
  AND (? OR EXISTS (SELECT 1 FROM inbox_members m WHERE m.inbox_id = c.inbox_id AND m.user_id = ?))
GROUP BY c.inbox_id, e.to_assignee_id, e.reason;

-- name: ReportFirstAssignments
-- The conversations created in [since, until) that have been assigned, with
-- their inbox, the assignee of their first assignment event and the
-- milliseconds from creation to it. Parameters: since; until; account; is
-- administrator; user.
SELECT c.inbox_id, e.to_assignee_id, e.created_at - c.created_at
FROM conversations c
JOIN assignment_events e ON e.conversation_id = c.id
WHERE c.created_at >= ? AND c.created_at < ?
  AND e.id = (SELECT min(f.id) FROM assignment_events f WHERE f.conversation_id = c.id)
  AND c.account_id = ?
  AND (? OR EXISTS (SELECT 1 FROM inbox_members m WHERE m.inbox_id = c.inbox_id AND m.user_id = ?));

-- name: ReportOpen
-- Open conversations held now, by inbox and assignee.
-- Parameters: account; is administrator; user.
SELECT c.inbox_id, c.assignee_id, count(*)
FROM conversations c
WHERE c.status = 'open' AND c.assignee_id IS NOT NULL
  AND c.account_id = ?
  AND (? OR EXISTS (SELECT 1 FROM inbox_members m WHERE m.inbox_id = c.inbox_id AND m.user_id = ?))
GROUP BY c.inbox_id, c.assignee_id;

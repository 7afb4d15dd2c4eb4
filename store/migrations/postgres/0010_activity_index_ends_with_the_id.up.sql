-- A conversation list's page is the newest activity first, and the id among
-- equal activities (ListConversations). With the id in the index, a walk
-- of one status's conversations backwards gives the page in its order and
-- stops at its end; without it PostgreSQL sorted what it walked, and from
-- statistics that call the table small (a new or fast-growing one) it
-- walked every conversation of the status to sort them: 3.5 ms of a list
-- with 20,000 open ones (BENCHMARKS.md). SQLite's index ends with the row's
-- id already (its migration 0010).
DROP INDEX conversations_activity;
CREATE INDEX conversations_activity ON conversations (account_id, status, last_activity_at, id);

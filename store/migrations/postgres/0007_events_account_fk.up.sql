-- An assignment event's account is its conversation's, written from it; the
-- conversation's foreign keys already guard both. The event's own check of
-- the account ran once per row: a tenth of a PostgreSQL mass reassignment
-- (10,000 events), whose steps hold their inboxes' routing locks while they
-- write. SQLite keeps it: its reassignment meets its figures with it, and
-- dropping a foreign key there means rebuilding the table.
ALTER TABLE assignment_events DROP CONSTRAINT assignment_events_account_id_fkey;

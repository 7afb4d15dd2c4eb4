-- PostgreSQL numbers conversations from a sequence per account (see its
-- 0005). SQLite has one writer, so accounts.last_conversation_id stays the
-- counter here and this migration changes nothing.
SELECT 1;

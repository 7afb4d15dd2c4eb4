-- Conversations are numbered per account from a sequence of the account,
-- not by updating the account's row: that row's lock, held to the commit,
-- made every create of an account wait for the one before it, across all
-- its inboxes and processes. A sequence hands out numbers without a lock;
-- a rolled-back create leaves a gap, as in Chatwoot. On PostgreSQL
-- accounts.last_conversation_id is no longer written.
CREATE FUNCTION create_conversation_display_sequence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE %I', 'conversation_display_ids_' || NEW.id);
    RETURN NEW;
END
$$;

CREATE TRIGGER accounts_conversation_display_sequence AFTER INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION create_conversation_display_sequence();

DO $$
DECLARE
    a RECORD;
BEGIN
    FOR a IN SELECT id, last_conversation_id FROM accounts LOOP
        EXECUTE format('CREATE SEQUENCE %I START WITH %s',
                       'conversation_display_ids_' || a.id, a.last_conversation_id + 1);
    END LOOP;
END
$$;

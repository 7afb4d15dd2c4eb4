-- The snoozed conversations, by the time they wake (WakeSnoozed, with every
-- presence sweep): a look that finds none reads nothing. (SQLite needs
-- none: its conversations_activity leads with the status, so the look
-- reads the snoozed conversations only.)
CREATE INDEX conversations_snoozed ON conversations (snoozed_until) WHERE status = 'snoozed';

-- The snoozed conversations, by the time they wake (WakeSnoozed, with every
-- presence sweep): a look that finds none reads nothing.
CREATE INDEX conversations_snoozed ON conversations (snoozed_until) WHERE status = 'snoozed';

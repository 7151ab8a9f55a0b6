-- A refused delegated write is recorded as a transaction that changes nothing; its
-- refusal message and attempted updates are kept here as JSON.
ALTER TABLE transactions ADD COLUMN denied JSONB;

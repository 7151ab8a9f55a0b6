ALTER TABLE transactions DROP COLUMN denied;

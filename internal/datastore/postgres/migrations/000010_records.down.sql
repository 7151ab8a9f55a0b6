ALTER TABLE transactions DROP COLUMN record_changes;
DROP TABLE record_keys;
DROP TABLE records;

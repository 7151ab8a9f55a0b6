DROP TABLE record_keys;
DROP TABLE records;

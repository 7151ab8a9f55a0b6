DROP TABLE IF EXISTS transaction_objects;

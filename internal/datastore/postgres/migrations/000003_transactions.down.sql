DROP TABLE IF EXISTS transaction_organizations;
DROP TABLE IF EXISTS transaction_changes;
DROP TABLE IF EXISTS transactions;

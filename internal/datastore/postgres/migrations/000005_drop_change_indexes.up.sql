-- transaction_objects (migration 4) answers the audit queries these served.
DROP INDEX IF EXISTS transaction_changes_by_resource;
DROP INDEX IF EXISTS transaction_changes_by_subject;
DROP TABLE IF EXISTS transaction_organizations;

ALTER TABLE transaction_changes
    DROP COLUMN granted_via_id,
    DROP COLUMN granted_via_type,
    DROP COLUMN granted_by_relation,
    DROP COLUMN granted_by_id,
    DROP COLUMN granted_by_type;

ALTER TABLE relationships
    DROP COLUMN granted_via_id,
    DROP COLUMN granted_via_type,
    DROP COLUMN granted_by_relation,
    DROP COLUMN granted_by_id,
    DROP COLUMN granted_by_type;

-- A delegated relationship remembers who granted it and through which object (usually
-- an organisation) the grantor held the right: the grantor's subject and the via
-- object, all NULL for a relationship written without delegation. The audit trail's
-- changes carry the same columns so watchers and auditors see the grant.
ALTER TABLE relationships
    ADD COLUMN granted_by_type TEXT COLLATE "C",
    ADD COLUMN granted_by_id TEXT COLLATE "C",
    ADD COLUMN granted_by_relation TEXT COLLATE "C",
    ADD COLUMN granted_via_type TEXT COLLATE "C",
    ADD COLUMN granted_via_id TEXT COLLATE "C";

ALTER TABLE transaction_changes
    ADD COLUMN granted_by_type TEXT COLLATE "C",
    ADD COLUMN granted_by_id TEXT COLLATE "C",
    ADD COLUMN granted_by_relation TEXT COLLATE "C",
    ADD COLUMN granted_via_type TEXT COLLATE "C",
    ADD COLUMN granted_via_id TEXT COLLATE "C";

-- The objects each transaction touched, once per transaction: the resources and the
-- subjects of its changes and the organisations its metadata names. Audit queries by
-- resource, subject or organisation find their revisions here. One deduplicated table
-- costs imports far fewer index entries than indexing every change by resource and by
-- subject; migration 5 drops those indexes and transaction_organizations.
CREATE TABLE transaction_objects (
    tenant TEXT COLLATE "C" NOT NULL,
    role SMALLINT NOT NULL, -- 1: resource of a change, 2: subject of a change, 3: organisation named in the metadata
    object_type TEXT COLLATE "C" NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    PRIMARY KEY (tenant, role, object_type, object_id, revision)
);

INSERT INTO transaction_objects (tenant, role, object_type, object_id, revision)
SELECT tenant, 1, resource_type, resource_id, revision FROM transaction_changes
UNION
SELECT tenant, 2, subject_type, subject_id, revision FROM transaction_changes
UNION
SELECT tenant, 3, org_type, org_id, revision FROM transaction_organizations;

CREATE TABLE transaction_organizations (
    tenant TEXT COLLATE "C" NOT NULL,
    org_type TEXT COLLATE "C" NOT NULL,
    org_id TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    PRIMARY KEY (tenant, org_type, org_id, revision)
);
INSERT INTO transaction_organizations (tenant, org_type, org_id, revision)
SELECT tenant, object_type, object_id, revision FROM transaction_objects WHERE role = 3;
CREATE INDEX transaction_changes_by_resource ON transaction_changes (tenant, resource_type, resource_id, revision);
CREATE INDEX transaction_changes_by_subject ON transaction_changes (tenant, subject_type, subject_id, revision);

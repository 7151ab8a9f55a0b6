-- The transaction log: one row per committed revision with its audit metadata. Watch
-- reads it in revision order; the audit trail reads it newest first.
CREATE TABLE transactions (
    tenant TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    actor_type TEXT COLLATE "C",
    actor_id TEXT COLLATE "C",
    actor_relation TEXT COLLATE "C",
    reason TEXT NOT NULL,
    operation TEXT NOT NULL,
    organizations JSONB,
    grants JSONB,
    schema_text TEXT,
    PRIMARY KEY (tenant, revision)
);

CREATE INDEX transactions_by_time ON transactions (tenant, committed_at);
CREATE INDEX transactions_by_principal ON transactions (tenant, principal, revision);
CREATE INDEX transactions_by_actor ON transactions (tenant, actor_type, actor_id, revision);

-- The relationship changes of each transaction, in the order the transaction first
-- wrote each key, indexed for audit queries by resource and by subject.
CREATE TABLE transaction_changes (
    tenant TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    seq INT NOT NULL,
    kind SMALLINT NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    relation TEXT COLLATE "C" NOT NULL,
    subject_type TEXT COLLATE "C" NOT NULL,
    subject_id TEXT COLLATE "C" NOT NULL,
    subject_relation TEXT COLLATE "C" NOT NULL,
    caveat_name TEXT,
    caveat_context JSONB,
    expires_at TIMESTAMPTZ,
    PRIMARY KEY (tenant, revision, seq)
);

CREATE INDEX transaction_changes_by_resource ON transaction_changes (tenant, resource_type, resource_id, revision);
CREATE INDEX transaction_changes_by_subject ON transaction_changes (tenant, subject_type, subject_id, revision);

-- The organisations a transaction's metadata names, for audit queries by organisation.
CREATE TABLE transaction_organizations (
    tenant TEXT COLLATE "C" NOT NULL,
    org_type TEXT COLLATE "C" NOT NULL,
    org_id TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    PRIMARY KEY (tenant, org_type, org_id, revision)
);

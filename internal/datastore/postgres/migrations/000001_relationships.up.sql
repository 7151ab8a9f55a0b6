-- Store identity, tenants, each tenant's revision counter and the revisioned
-- relationship rows.
--
-- Every string column that takes part in ordering is declared COLLATE "C" so that
-- PostgreSQL orders it byte-wise, as Pemba's cursors require, whatever the database's
-- default collation. CockroachDB already compares strings byte-wise and does not accept
-- COLLATE "C" in a column definition; Pemba removes the clause before applying the
-- migrations there (see docs/postgres.md).

CREATE TABLE pemba_store (
    id INT PRIMARY KEY,
    unique_id TEXT NOT NULL
);

CREATE TABLE tenants (
    name TEXT COLLATE "C" PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    -- oldest is the oldest revision still readable: garbage collection raises it.
    oldest BIGINT NOT NULL DEFAULT 0
);

-- The revision counter lives apart from tenants so that readers checking whether a
-- tenant exists never touch the row a writer holds locked.
CREATE TABLE tenant_heads (
    tenant TEXT COLLATE "C" PRIMARY KEY,
    head BIGINT NOT NULL
);

-- One row per version of a relationship: visible at revisions R with
-- created_rev <= R AND (deleted_rev IS NULL OR deleted_rev > R).
CREATE TABLE relationships (
    tenant TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    relation TEXT COLLATE "C" NOT NULL,
    subject_type TEXT COLLATE "C" NOT NULL,
    subject_id TEXT COLLATE "C" NOT NULL,
    subject_relation TEXT COLLATE "C" NOT NULL,
    caveat_name TEXT,
    caveat_context JSONB,
    expires_at TIMESTAMPTZ,
    created_rev BIGINT NOT NULL,
    deleted_rev BIGINT,
    PRIMARY KEY (tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_rev)
);

-- The reverse direction: by subject, then in key order.
CREATE INDEX relationships_by_subject ON relationships
    (tenant, subject_type, subject_id, subject_relation, resource_type, resource_id, relation, created_rev);

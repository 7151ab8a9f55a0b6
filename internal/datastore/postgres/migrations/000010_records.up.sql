-- Records: governance objects (access requests, ...) revisioned with the tenant's
-- relationships. One row per version, visible at revisions R with
-- created_rev <= R AND (deleted_rev IS NULL OR deleted_rev > R); data is the caller's
-- opaque encoding, keys its secondary keys.
CREATE TABLE records (
    tenant TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    created_rev BIGINT NOT NULL,
    deleted_rev BIGINT,
    data BYTEA NOT NULL,
    keys TEXT[] NOT NULL,
    PRIMARY KEY (tenant, kind, id, created_rev)
);

-- One row per key of each record version, so a key or a key prefix finds its
-- records through an index; the version's own row decides whether it is visible.
CREATE TABLE record_keys (
    tenant TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    created_rev BIGINT NOT NULL,
    PRIMARY KEY (tenant, kind, key, id, created_rev)
);

-- The record changes of each transaction, for Watch and the audit trail.
ALTER TABLE transactions ADD COLUMN record_changes JSONB;

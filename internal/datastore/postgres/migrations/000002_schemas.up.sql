-- Each schema text a tenant wrote, keyed by the revision that wrote it. A reader at R
-- uses the newest row with revision <= R.
CREATE TABLE schemas (
    tenant TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    schema_text TEXT NOT NULL,
    PRIMARY KEY (tenant, revision)
);

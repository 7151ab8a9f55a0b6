-- Each tenant's number of stored relationships (live versions, expired ones included
-- until garbage collection deletes them), kept on the counter row every writer locks,
-- so a write checks the tenant's relationship limit without counting rows. Migration
-- 8 fills it in; it is separate because CockroachDB cannot write a column in the
-- transaction that adds it.
ALTER TABLE tenant_heads ADD COLUMN relationship_count BIGINT NOT NULL DEFAULT 0;

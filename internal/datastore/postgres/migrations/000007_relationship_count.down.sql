ALTER TABLE tenant_heads DROP COLUMN relationship_count;

-- Count the relationships each tenant stores (see migration 7).
UPDATE tenant_heads SET relationship_count = (
    SELECT count(*) FROM relationships r
    WHERE r.tenant = tenant_heads.tenant AND r.deleted_rev IS NULL);

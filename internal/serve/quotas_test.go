package serve

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pemba-authz/pemba/internal/server"
)

// TestQuotaFileInheritsFlags checks how file entries combine with the flags'
// defaults: absent fields are inherited, 0 lifts a bound, and a rate of its own
// drops the flags' burst.
func TestQuotaFileInheritsFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "quotas.yaml")
	os.WriteFile(path, []byte(`tenants:
  acme: {requests_per_second: 50}
  globex: {max_concurrent: 0, max_lookup_work: 5000}
  initech:
`), 0o600)
	defaults := server.Quotas{
		Tenant: server.TenantQuota{Quota: server.Quota{RequestsPerSecond: 10, Burst: 40, MaxConcurrent: 8}, MaxRelationships: 1000},
		Key:    server.Quota{MaxConcurrent: 4},
	}
	q, err := loadQuotas(defaults, path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]server.TenantQuota{
		"acme":    {Quota: server.Quota{RequestsPerSecond: 50, MaxConcurrent: 8}, MaxRelationships: 1000},
		"globex":  {Quota: server.Quota{RequestsPerSecond: 10, Burst: 40}, MaxRelationships: 1000, MaxLookupWork: 5000},
		"initech": defaults.Tenant,
	}
	for name, w := range want {
		if got := q.ForTenant(name); got != w {
			t.Errorf("tenant %s: %+v, want %+v", name, got, w)
		}
	}
	if got := q.ForTenant("other"); got != defaults.Tenant || q.Key != defaults.Key {
		t.Errorf("a tenant without an entry: %+v; key %+v", got, q.Key)
	}

	keys := filepath.Join(dir, "keys.yaml")
	os.WriteFile(keys, []byte(`keys:
  - {name: plain, role: reader, key: a}
  - {name: own, role: reader, key: b, quota: {requests_per_second: 5, burst: 10}}
`), 0o600)
	ks, err := loadKeys(nil, keys, q.Key)
	if err != nil {
		t.Fatal(err)
	}
	if ks[0].Quota != nil || ks[1].Quota == nil || *ks[1].Quota != (server.Quota{RequestsPerSecond: 5, Burst: 10, MaxConcurrent: 4}) {
		t.Errorf("key quotas: %v, %+v", ks[0].Quota, ks[1].Quota)
	}
}

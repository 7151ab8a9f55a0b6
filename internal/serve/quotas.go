package serve

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pemba-authz/pemba/internal/server"
)

// quotaEntry is a request quota in the key file or the quota file. An absent field
// takes the default of its flag; 0 sets no bound. A rate given without a burst gets
// the default burst of one second's worth, not the flag's burst, which belongs to
// the flag's rate.
type quotaEntry struct {
	RequestsPerSecond *float64 `yaml:"requests_per_second"`
	Burst             *int     `yaml:"burst"`
	MaxConcurrent     *int     `yaml:"max_concurrent"`
}

// over returns the quota the entry makes of the defaults d.
func (e *quotaEntry) over(d server.Quota) server.Quota {
	q := d
	if e.RequestsPerSecond != nil {
		q.Burst = 0
	}
	given(&q.RequestsPerSecond, e.RequestsPerSecond)
	given(&q.Burst, e.Burst)
	given(&q.MaxConcurrent, e.MaxConcurrent)
	return q
}

// tenantQuotaEntry is one tenant's entry in the quota file.
type tenantQuotaEntry struct {
	quotaEntry       `yaml:",inline"`
	MaxRelationships *int64 `yaml:"max_relationships"`
	MaxLookupWork    *int   `yaml:"max_lookup_work"`
}

func (e *tenantQuotaEntry) over(d server.TenantQuota) server.TenantQuota {
	q := d
	q.Quota = e.quotaEntry.over(d.Quota)
	given(&q.MaxRelationships, e.MaxRelationships)
	given(&q.MaxLookupWork, e.MaxLookupWork)
	return q
}

// given sets *field to the value a file gives, when it gives one.
func given[T any](field *T, v *T) {
	if v != nil {
		*field = *v
	}
}

// quotaFile is the quota file format (YAML, or JSON, which YAML reads too).
type quotaFile struct {
	Tenants map[string]*tenantQuotaEntry `yaml:"tenants"`
}

// loadQuotas returns the quotas of the flags (the defaults) and of the quota file,
// checked:
//
//	tenants:
//	  acme:                        # a tenant name
//	    requests_per_second: 500   # absent fields take the --tenant-* flags' values;
//	    burst: 1000                # 0 sets no bound for this tenant
//	    max_concurrent: 64
//	    max_relationships: 5000000
//	    max_lookup_work: 2000000   # absent: --max-lookup-work
func loadQuotas(defaults server.Quotas, path string) (server.Quotas, error) {
	q := server.Quotas{Tenant: defaults.Tenant, Key: defaults.Key}
	if err := q.Validate(); err != nil {
		return server.Quotas{}, fmt.Errorf("quota flags: %v", err)
	}
	if path == "" {
		return q, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return server.Quotas{}, fmt.Errorf("reading the quota file: %w", err)
	}
	var f quotaFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return server.Quotas{}, fmt.Errorf("quota file %s: %v", path, err)
	}
	if len(f.Tenants) == 0 {
		return server.Quotas{}, fmt.Errorf("quota file %s has no tenants (expected a top-level \"tenants:\" map of tenant names to quotas)", path)
	}
	q.Tenants = make(map[string]server.TenantQuota, len(f.Tenants))
	for name, e := range f.Tenants {
		if e == nil {
			e = &tenantQuotaEntry{}
		}
		q.Tenants[name] = e.over(q.Tenant)
	}
	if err := q.Validate(); err != nil {
		return server.Quotas{}, fmt.Errorf("quota file %s: %v", path, err)
	}
	return q, nil
}

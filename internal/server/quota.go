package server

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Quota bounds the requests of one tenant or one key. A zero field sets no bound.
// Requests over a quota are refused at once with RESOURCE_EXHAUSTED and retry
// information; nothing waits for room.
type Quota struct {
	// RequestsPerSecond is the sustained request rate, a token bucket refilled at this
	// rate; 0 is no rate limit.
	RequestsPerSecond float64
	// Burst is the bucket's size: how many requests may arrive at once after a quiet
	// spell. 0 means one second's worth (at least 1). It needs RequestsPerSecond.
	Burst int
	// MaxConcurrent bounds the requests in flight at once. Watch streams do not count:
	// they are long-lived and cost nothing while idle. 0 is no bound.
	MaxConcurrent int
}

// TenantQuota is a tenant's quota: its requests, its size and its lookups.
type TenantQuota struct {
	Quota
	// MaxRelationships bounds the relationships the tenant stores (live ones, expired
	// ones included until garbage collection removes them). A write or an import
	// batch that would grow the tenant beyond it fails whole; one that does not grow
	// it always passes. 0 is no bound.
	MaxRelationships int64
	// MaxLookupWork bounds one LookupResources or LookupSubjects in this tenant, in
	// store reads (see Limits.MaxLookupWork); 0 means Limits.MaxLookupWork.
	MaxLookupWork int
}

// Quotas are the bounds per tenant and per key. Every request is counted against
// the quota of the key that made it and of the tenant it names, and refused when
// either is exhausted, so one key cannot starve the others of a tenant and one tenant
// cannot starve the other tenants. The zero value sets no bound.
type Quotas struct {
	// Tenant is the quota of every tenant not in Tenants.
	Tenant TenantQuota
	// Tenants are the quotas of particular tenants; each replaces Tenant whole.
	Tenants map[string]TenantQuota
	// Key is the quota of every key without its own (Key.Quota), the anonymous
	// principal of a server without keys included.
	Key Quota
}

// ForTenant returns the quota of a tenant.
func (q Quotas) ForTenant(tenant string) TenantQuota {
	if tq, ok := q.Tenants[tenant]; ok {
		return tq
	}
	return q.Tenant
}

// forKey returns the quota of a key.
func (q Quotas) forKey(k *Key) Quota {
	if k.Quota != nil {
		return *k.Quota
	}
	return q.Key
}

// validate checks a quota; where names it in errors.
func (q Quota) validate(where string) error {
	switch {
	case q.RequestsPerSecond < 0 || math.IsNaN(q.RequestsPerSecond) || math.IsInf(q.RequestsPerSecond, 0):
		return fmt.Errorf("%s: requests per second %v must be a finite number, 0 or more", where, q.RequestsPerSecond)
	case q.Burst < 0:
		return fmt.Errorf("%s: burst %d is negative", where, q.Burst)
	case q.Burst > 0 && q.RequestsPerSecond == 0:
		return fmt.Errorf("%s: a burst of %d needs a rate (requests per second)", where, q.Burst)
	case q.MaxConcurrent < 0:
		return fmt.Errorf("%s: concurrent requests %d is negative", where, q.MaxConcurrent)
	}
	return nil
}

func (q TenantQuota) validate(where string) error {
	if err := q.Quota.validate(where); err != nil {
		return err
	}
	if q.MaxRelationships < 0 {
		return fmt.Errorf("%s: relationships %d is negative", where, q.MaxRelationships)
	}
	if q.MaxLookupWork < 0 {
		return fmt.Errorf("%s: lookup work %d is negative", where, q.MaxLookupWork)
	}
	return nil
}

// Validate checks every quota and the tenant names they are given for.
func (q Quotas) Validate() error {
	if err := q.Tenant.validate("the default tenant quota"); err != nil {
		return err
	}
	if err := q.Key.validate("the default key quota"); err != nil {
		return err
	}
	for name, tq := range q.Tenants {
		if err := tuple.ValidateTenantName(name); err != nil {
			return fmt.Errorf("tenant quota: %v", err)
		}
		if err := tq.validate(fmt.Sprintf("the quota of tenant %q", name)); err != nil {
			return err
		}
	}
	return nil
}

// burst is the token bucket's size.
func (q Quota) burst() int {
	if q.Burst > 0 {
		return q.Burst
	}
	return max(1, int(math.Ceil(q.RequestsPerSecond)))
}

// String describes the quota for the startup log.
func (q Quota) String() string {
	var parts []string
	if q.RequestsPerSecond > 0 {
		parts = append(parts, fmt.Sprintf("%g/s burst %d", q.RequestsPerSecond, q.burst()))
	}
	if q.MaxConcurrent > 0 {
		parts = append(parts, fmt.Sprintf("%d concurrent", q.MaxConcurrent))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// String describes the quota for the startup log.
func (q TenantQuota) String() string {
	s := q.Quota.String()
	if q.MaxRelationships > 0 {
		s += fmt.Sprintf(", %d relationships", q.MaxRelationships)
	}
	if q.MaxLookupWork > 0 {
		s += fmt.Sprintf(", lookup work %d", q.MaxLookupWork)
	}
	return s
}

// String describes the quotas for the startup log.
func (q Quotas) String() string {
	s := fmt.Sprintf("tenant %s; key %s", q.Tenant, q.Key)
	if len(q.Tenants) > 0 {
		names := make([]string, 0, len(q.Tenants))
		for n := range q.Tenants {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 8 {
			names = append(names[:8], "…")
		}
		s += fmt.Sprintf("; own quotas for %d tenants (%s)", len(q.Tenants), strings.Join(names, ", "))
	}
	return s
}

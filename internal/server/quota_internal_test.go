package server

import (
	"fmt"
	"testing"
	"time"
)

// TestQuotaGateForgetsIdleTenants names ever new tenants, as a client probing for
// tenant names could, and checks that the gate keeps only the buckets in use or not
// yet refilled, so its memory stays bounded; and that no gate is built when no quota
// bounds requests.
func TestQuotaGateForgetsIdleTenants(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	g := newQuotaGate(Quotas{Tenant: TenantQuota{Quota: Quota{RequestsPerSecond: 100, MaxConcurrent: 2}}}, nil)
	g.now = func() time.Time { return now }
	held, err := g.admit(anonymous, "held", true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * sweepFloor {
		release, err := g.admit(anonymous, fmt.Sprintf("t%d", i), true)
		if err != nil {
			t.Fatalf("tenant %d: %v", i, err)
		}
		release()
	}
	if n := len(g.tenants); n != 3*sweepFloor+1 {
		t.Fatalf("%d buckets before any refilled, want all %d (a sweep may drop none of them)", n, 3*sweepFloor+1)
	}
	now = now.Add(time.Second)
	for i := range sweepFloor {
		release, err := g.admit(anonymous, fmt.Sprintf("u%d", i), true)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if n := len(g.tenants); n > sweepFloor+1 || g.tenants["held"] == nil {
		t.Fatalf("after the buckets refilled: %d buckets (held kept: %v), want at most %d and the held one", n, g.tenants["held"] != nil, sweepFloor+1)
	}
	// The held request still counts: the tenant has room for one more, not two.
	second, err := g.admit(anonymous, "held", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.admit(anonymous, "held", true); err == nil {
		t.Fatal("a third request in flight was admitted under a limit of 2")
	}
	held()
	second()

	if g := newQuotaGate(Quotas{Tenant: TenantQuota{MaxRelationships: 10, MaxLookupWork: 5}}, []Key{NewKey("k", RoleAdmin, nil, "s")}); g != nil {
		t.Fatal("a gate was built for quotas that bound no request")
	}
}

package cli

import (
	"strings"
	"testing"
	"time"
)

// TestAuditAcrossTenants reads the audit trail of two brands in one query through
// the real binary: an admin key sees both, labelled; a key limited to one brand sees
// exactly its own; paging loses and repeats nothing.
func TestAuditAcrossTenants(t *testing.T) {
	const brandASecret = "brand-a-reader-secret-01"
	p := startClientServer(t, "--preshared-key", "brand-a:reader@brand-a:"+brandASecret)
	admin := newCLI(t, p, cliAdminSecret)
	for _, brand := range []string{"brand-a", "brand-b"} {
		admin.ok("tenant", "create", brand)
		admin.ok("schema", "write", referenceSchema, "--tenant", brand)
	}
	admin.ok("rel", "write", "brand:portal-a#customer@user:ann", "--tenant", "brand-a")
	admin.ok("rel", "write", "brand:portal-b#customer@user:bob", "--tenant", "brand-b")
	admin.ok("rel", "write", "brand:portal-a#customer@user:cat", "--tenant", "brand-a")

	all := decodeJSONLines[transactionJSON](t, admin.ok("audit", "--all-tenants", "--all", "-o", "json"))
	count := map[string]int{}
	for _, tx := range all {
		count[tx.Tenant]++
	}
	if count["brand-a"] != 3 || count["brand-b"] != 2 || len(count) != 2 {
		t.Fatalf("admin --all-tenants: transactions per tenant %v, want brand-a 3, brand-b 2", count)
	}
	// One per page, following --page-token by hand: the same transactions, in order.
	var paged []transactionJSON
	args := []string{"audit", "--all-tenants", "--limit", "1", "-o", "json"}
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		r := admin.ok(args...)
		paged = append(paged, decodeJSONLines[transactionJSON](t, r)...)
		if !strings.Contains(r.stderr, "--page-token ") {
			break
		}
		next := strings.Fields(strings.SplitN(r.stderr, "--page-token ", 2)[1])[0]
		args = []string{"audit", "--all-tenants", "--limit", "1", "-o", "json", "--page-token", next}
	}
	if len(paged) != len(all) {
		t.Fatalf("paged %d transactions, want %d", len(paged), len(all))
	}
	for i := range all {
		if paged[i].Tenant != all[i].Tenant || paged[i].Token != all[i].Token {
			t.Fatalf("page %d: %s/%s, want %s/%s", i, paged[i].Tenant, paged[i].Token, all[i].Tenant, all[i].Token)
		}
	}

	// Text output names the tenant of each transaction.
	r := admin.ok("audit", "--all-tenants", "--tenants", "brand-b")
	mustContain(t, r, r.stdout, "  tenant brand-b  token ")
	if strings.Contains(r.stdout, "brand-a") {
		t.Fatalf("--tenants brand-b printed brand-a:\n%s", r)
	}

	// The brand-a key sees exactly brand-a, even with PEMBA_TENANT set elsewhere.
	brandA := newCLI(t, p, brandASecret).with("PEMBA_TENANT=brand-b")
	own := decodeJSONLines[transactionJSON](t, brandA.ok("audit", "--all-tenants", "--all", "-o", "json"))
	if len(own) != 3 {
		t.Fatalf("brand-a key: %d transactions, want 3: %+v", len(own), own)
	}
	for _, tx := range own {
		if tx.Tenant != "brand-a" {
			t.Fatalf("brand-a key read a transaction of %s", tx.Tenant)
		}
	}
	r = brandA.expect(exitError, "audit", "--all-tenants", "--tenants", "brand-a,brand-b")
	mustContain(t, r, r.stderr, "pemba: PERMISSION_DENIED:", "brand-b")

	// --tenants without --all-tenants is a usage error.
	r = admin.expect(exitError, "audit", "--tenants", "brand-a")
	mustContain(t, r, r.stderr, "--all-tenants")
}

// TestAuditDecisions drives the decision log through the real binary: checks are
// recorded by the server and read back with pemba audit decisions.
func TestAuditDecisions(t *testing.T) {
	_, admin := setupB2B(t, "--decision-log", "--decision-log-sample", "1")
	admin.ok("check", "document:q3", "view", "user:alice")
	admin.expect(exitNo, "check", "document:q3", "view", "user:mallory")

	// The writer flushes on its own within a second; read until both are there.
	var got []decisionJSON
	for attempt := 0; attempt < 100 && len(got) < 2; attempt++ {
		if attempt > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		got = decodeJSONLines[decisionJSON](t, admin.ok("audit", "decisions", "--since", "1h", "-o", "json"))
	}
	if len(got) != 2 {
		t.Fatalf("decisions: %+v, want the two checks", got)
	}
	if got[0].Subject != "user:mallory" || got[0].Result != "denied" || got[1].Subject != "user:alice" || got[1].Result != "allowed" ||
		got[1].Principal != "admin" || got[1].Tenant != "default" || got[1].Resource != "document:q3" || got[1].Token == "" {
		t.Fatalf("decisions: %+v", got)
	}
	r := admin.ok("audit", "decisions", "--subject", "user:alice", "--since", "168h")
	mustContain(t, r, r.stdout, "  tenant default  allowed      document:q3 view user:alice  check principal=admin  token ")
	if strings.Contains(r.stdout, "mallory") {
		t.Fatalf("--subject user:alice printed mallory:\n%s", r)
	}
	r = admin.expect(exitError, "audit", "decisions", "--result", "maybe")
	mustContain(t, r, r.stderr, "pemba: INVALID_ARGUMENT:", "maybe")
}

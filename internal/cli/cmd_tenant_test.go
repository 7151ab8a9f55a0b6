package cli

import (
	"strings"
	"testing"
)

// TestTenantCommands creates, lists and deletes tenants, and checks they are isolated
// and need an admin key.
func TestTenantCommands(t *testing.T) {
	p := startClientServer(t)
	admin := newCLI(t, p, cliAdminSecret)

	r := admin.ok("tenant", "create", "brand-b")
	if r.stdout != "created tenant brand-b\n" {
		t.Fatalf("tenant create:\n%s", r)
	}
	created := decodeJSON[tenantJSON](t, admin.ok("tenant", "create", "brand-c", "-o", "json"))
	if created.Name != "brand-c" || created.CreatedAt == "" {
		t.Fatalf("tenant create JSON: %+v", created)
	}
	r = admin.expect(exitError, "tenant", "create", "brand-b")
	mustContain(t, r, r.stderr, "pemba: ALREADY_EXISTS:")
	r = admin.expect(exitError, "tenant", "create", "Brand B")
	mustContain(t, r, r.stderr, "pemba: INVALID_ARGUMENT:")

	r = admin.ok("tenant", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME     CREATED") || !strings.HasPrefix(lines[1], "brand-b  ") ||
		!strings.HasPrefix(lines[2], "brand-c  ") || !strings.HasPrefix(lines[3], "default  ") {
		t.Fatalf("tenant list:\n%s", r)
	}

	// Each tenant has its own schema and relationships.
	b := admin.with("PEMBA_TENANT=brand-b")
	b.ok("schema", "write", referenceSchema)
	b.ok("rel", "write", "brand:portal-b#customer@user:mallory")
	b.ok("check", "brand:portal-b", "sign_in", "user:mallory")
	admin.ok("schema", "write", referenceSchema, "--tenant", "brand-c")
	admin.expect(exitNo, "check", "brand:portal-b", "sign_in", "user:mallory", "--tenant", "brand-c")

	// Only an admin key manages tenants.
	r = newCLI(t, p, cliReaderSecret).expect(exitError, "tenant", "list")
	mustContain(t, r, r.stderr, "pemba: PERMISSION_DENIED:", "needs an admin key")

	admin.ok("tenant", "delete", "brand-b")
	r = admin.expect(exitError, "check", "brand:portal-b", "sign_in", "user:mallory", "--tenant", "brand-b")
	mustContain(t, r, r.stderr, "pemba: NOT_FOUND:")
	r = admin.expect(exitError, "tenant", "delete", "default")
	if !strings.Contains(r.stderr, "default") {
		t.Fatalf("deleting the default tenant:\n%s", r)
	}
	list := decodeJSON[struct{ Tenants []tenantJSON }](t, admin.ok("tenant", "list", "-o", "json"))
	if len(list.Tenants) != 2 || list.Tenants[0].Name != "brand-c" || list.Tenants[1].Name != "default" {
		t.Fatalf("tenant list JSON after delete: %+v", list)
	}
}

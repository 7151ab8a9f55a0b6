package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDelegatedGrantsThroughTheCLI: a delegated write made through the portal's key
// is read back with its grantor and the organisation the grantor's right came
// through, in text and in JSON; writing a grant is refused by name; an admin's import
// carries one in.
func TestDelegatedGrantsThroughTheCLI(t *testing.T) {
	p, admin := setupB2B(t)
	portal := newCLI(t, p, cliDelegateSecret)
	portal.ok("rel", "write", "organization:acme-eu#member@user:dan", "--as", "user:carol", "--reason", "new hire")

	r := admin.ok("rel", "read", "organization:acme-eu#member", "--subject", "user:dan")
	if want := "organization:acme-eu#member@user:dan[granted:user:carol@organization:acme-eu]\n"; r.stdout != want {
		t.Fatalf("rel read printed %q, want %q", r.stdout, want)
	}
	r = admin.ok("rel", "read", "organization:acme-eu#member", "--subject", "user:dan", "-o", "json")
	mustContain(t, r, r.stdout, `"granted_by":"user:carol"`, `"granted_via":"organization:acme-eu"`)

	forged := "organization:acme-eu#member@user:mallory[granted:user:alice@organization:acme]"
	r = admin.expect(exitError, "rel", "write", forged)
	mustContain(t, r, r.stderr, "INVALID_ARGUMENT", "updates[0].relationship.granted")

	file := filepath.Join(t.TempDir(), "grants.txt")
	// One line in the text form, one as the JSON fields "pemba export -o json" prints.
	lines := forged + "\n" + `{"resource_type":"organization","resource_id":"acme-eu","relation":"member","subject_type":"user","subject_id":"oscar","granted_by":"user:alice","granted_via":"organization:acme"}` + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	admin.ok("import", file, "--no-progress")
	r = admin.ok("rel", "read", "organization:acme-eu#member", "--subject", "user:mallory")
	if r.stdout != forged+"\n" {
		t.Fatalf("after the import rel read printed %q, want %s", r.stdout, forged)
	}
	r = admin.ok("rel", "read", "organization:acme-eu#member", "--subject", "user:oscar")
	if want := "organization:acme-eu#member@user:oscar[granted:user:alice@organization:acme]\n"; r.stdout != want {
		t.Fatalf("after the JSON import rel read printed %q, want %q", r.stdout, want)
	}
}

package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// fixtureRelationships reads testdata/client/b2b.txt in the canonical text form.
func fixtureRelationships(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(testdataPath("testdata/client/b2b.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "//") {
			continue
		}
		out = append(out, tuple.MustParse(l).String())
	}
	slices.Sort(out)
	return out
}

// TestImportExportRoundTrip exports a tenant as text and as JSON lines, imports both
// into fresh tenants (from a file and from stdin) and compares; a bad line stops an
// import before anything is written; a server-side failure says how to resume. The
// server's page size is 3, so reads, lookups and the audit follow pages.
func TestImportExportRoundTrip(t *testing.T) {
	_, admin := setupB2B(t, "--max-page-size", "3")
	want := fixtureRelationships(t)

	r := admin.ok("export")
	if got := sortedLines(r.stdout); !slices.Equal(got, want) {
		t.Fatalf("export:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}
	mustContain(t, r, r.stderr, "exported 19 relationships in ", "/s)\ntoken: ")
	if r := admin.ok("export", "--no-progress"); r.stderr != "" {
		t.Fatalf("--no-progress still reports:\n%s", r)
	}
	dir := t.TempDir()
	textFile, jsonFile := filepath.Join(dir, "backup.txt"), filepath.Join(dir, "backup.jsonl")
	os.WriteFile(textFile, []byte(r.stdout), 0o600)
	jsonExport := admin.ok("export", "-o", "json", "--no-progress")
	os.WriteFile(jsonFile, []byte(jsonExport.stdout), 0o600)
	lines := decodeJSONLines[relationshipJSON](t, jsonExport)
	if len(lines) != len(want) {
		t.Fatalf("JSON export has %d lines, want %d", len(lines), len(want))
	}
	for _, l := range lines {
		if l.Text == "" || l.ResourceType == "" || l.SubjectID == "" {
			t.Fatalf("JSON export line lacks fields: %+v", l)
		}
	}
	caveated := lines[slices.IndexFunc(lines, func(l relationshipJSON) bool { return l.Caveat != "" })]
	if caveated.Caveat != "within_network" || caveated.CaveatContext["allowed_cidr"] != "10.0.0.0/8" {
		t.Fatalf("JSON export of a caveated relationship: %+v", caveated)
	}

	// Import the text file into tenant "copy", the JSON lines from stdin into
	// "copy-json"; both export what the default tenant exports.
	for _, tc := range []struct{ tenant, stdin, file string }{
		{"copy", "", textFile},
		{"copy-json", jsonExport.stdout, "-"},
	} {
		admin.ok("tenant", "create", tc.tenant)
		tenant := admin.with("PEMBA_TENANT=" + tc.tenant)
		tenant.ok("schema", "write", referenceSchema)
		r := tenant.runStdin(tc.stdin, "import", tc.file, "--reason", "restore", "--batch-size", "4")
		if r.code != 0 {
			t.Fatalf("import into %s:\n%s", tc.tenant, r)
		}
		mustContain(t, r, r.stdout, "imported: 19 relationship(s)\ntoken: ")
		mustContain(t, r, r.stderr, "sent 19 relationships in ")
		if got := sortedLines(tenant.ok("export", "--no-progress").stdout); !slices.Equal(got, want) {
			t.Fatalf("tenant %s after import:\n%s", tc.tenant, strings.Join(got, "\n"))
		}
		if a := decodeJSONLines[transactionJSON](t, tenant.ok("audit", "--all", "-o", "json")); a[0].Operation != "import" || a[0].Reason != "restore" || a[0].Principal != "admin" {
			t.Fatalf("audit of the import: %+v", a[0])
		}
	}

	// A bad line is reported with file:line before anything is sent.
	admin.ok("tenant", "create", "broken")
	broken := admin.with("PEMBA_TENANT=broken")
	broken.ok("schema", "write", referenceSchema)
	badFile := filepath.Join(dir, "bad.txt")
	os.WriteFile(badFile, []byte("organization:acme#member@user:alice\n\norganization:acme#member@user alice\n"), 0o600)
	r = broken.expect(exitError, "import", badFile)
	mustContain(t, r, r.stderr, badFile+":3: invalid relationship \"organization:acme#member@user alice\"")
	if r := broken.ok("export", "--no-progress"); r.stdout != "" {
		t.Fatalf("a rejected import wrote:\n%s", r.stdout)
	}
	// From stdin the import stops at the bad line and says what may have been sent.
	r = broken.runStdin("organization:acme#member@user:alice\nnot a relationship\n", "import", "-")
	if r.code != exitError {
		t.Fatalf("import of a bad stdin line:\n%s", r)
	}
	mustContain(t, r, r.stderr, "stdin:2: invalid relationship \"not a relationship\"", "the import stopped there after 0 relationship(s) were sent")
	if r := broken.ok("export", "--no-progress"); r.stdout != "" {
		t.Fatalf("an import stopped before its first batch wrote:\n%s", r.stdout)
	}
	// A relationship the schema refuses stops the import on the server; the error
	// numbers it from 1 as the file does, and says to fix it before resuming, since
	// running the same import again would fail the same way.
	os.WriteFile(badFile, []byte("organization:acme#member@user:alice\norganization:acme#owner@user:alice\n"), 0o600)
	r = broken.expect(exitError, "import", badFile)
	mustContain(t, r, r.stderr, "pemba: INVALID_ARGUMENT:", "relationship 2 (organization:acme#owner@user:alice)",
		"running the same import again would fail the same way: fix relationship 2 of "+badFile+", then resume with: pemba import "+badFile)
	if strings.Contains(r.stderr, "run the same command again") {
		t.Errorf("a refused import suggests rerunning it unchanged:\n%s", r)
	}
	// --skip starts after the relationships already imported.
	r = broken.ok("import", textFile, "--skip", "15", "--no-progress")
	mustContain(t, r, r.stdout, "imported: 4 relationship(s)\n")
	r = broken.expect(exitError, "import", textFile, "--skip", "19")
	mustContain(t, r, r.stderr, "--skip 19 skips every relationship of "+textFile)
	walkPagedListings(t, admin)
}

// walkPagedListings checks that reads, lookups and the audit follow the server's pages of 3, and deletes by filter.
func walkPagedListings(t *testing.T, admin *cliRunner) {
	t.Helper()
	// Pages: the server returns 3 at a time; the client follows them.
	orgs := admin.ok("rel", "read", "organization")
	if got := sortedLines(orgs.stdout); len(got) != 8 || !slices.IsSorted(strings.Split(strings.TrimSpace(orgs.stdout), "\n")) {
		t.Fatalf("rel read organization over pages of 3:\n%s", orgs)
	}
	first := admin.ok("rel", "read", "organization", "--limit", "5")
	m := regexp.MustCompile(`more may follow: --cursor (\S+)`).FindStringSubmatch(first.stderr)
	if strings.Count(first.stdout, "\n") != 5 || m == nil {
		t.Fatalf("rel read --limit 5:\n%s", first)
	}
	rest := admin.ok("rel", "read", "organization", "--cursor", m[1])
	if first.stdout+rest.stdout != orgs.stdout || rest.stderr != "" {
		t.Fatalf("rel read --cursor does not continue where --limit stopped:\n%s\n%s", first, rest)
	}
	reads := decodeJSONLines[readLineJSON](t, admin.ok("rel", "read", "organization:acme-eu", "-o", "json"))
	if len(reads) != 4 || reads[0].Cursor == "" || reads[0].Token == "" || reads[0].ResourceID != "acme-eu" {
		t.Fatalf("rel read JSON: %+v", reads)
	}
	subjects := admin.ok("lookup-subjects", "brand:portal-a", "sign_in", "user")
	if got := sortedLines(subjects.stdout); !slices.Equal(got, []string{"user:alice", "user:bob", "user:carol", "user:dan", "user:erin"}) {
		t.Fatalf("lookup-subjects over pages of 3:\n%s", subjects)
	}
	limited := admin.ok("lookup-subjects", "brand:portal-a", "sign_in", "user", "--limit", "2")
	if strings.Count(limited.stdout, "\n") != 2 || !strings.Contains(limited.stderr, "--consistency at_exact_snapshot:") {
		t.Fatalf("lookup-subjects --limit 2:\n%s", limited)
	}
	for _, id := range []string{"d1", "d2", "d3", "d4"} {
		admin.ok("rel", "write", "document:"+id+"#project@project:apollo")
	}
	if n := len(decodeJSONLines[transactionJSON](t, admin.ok("audit", "--all", "-o", "json"))); n != 6 {
		t.Fatalf("audit --all over pages of 3 found %d transactions, want 6", n)
	}
	if r := admin.ok("audit", "--limit", "5"); strings.Count(r.stdout, "  token ") != 5 {
		t.Fatalf("audit --limit 5 over pages of 3:\n%s", r)
	}

	// Deleting by filter reports the count, and whether more match.
	r := admin.ok("rel", "delete", "brand:portal-a#customer", "--limit", "2", "--reason", "cleanup")
	mustContain(t, r, r.stdout, "deleted: 2 relationship(s)\n", "more relationships match")
	del := decodeJSON[map[string]any](t, admin.ok("rel", "delete", "--resource-type", "brand", "--relation", "customer", "--subject", "user", "-o", "json"))
	if del["deleted"] != float64(4) || del["more"] != false {
		t.Fatalf("rel delete JSON: %v", del)
	}
}

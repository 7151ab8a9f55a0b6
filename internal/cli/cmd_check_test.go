package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// setupB2B starts a server with the reference schema and the walkthrough's data
// (testdata/client/b2b.txt, written with `rel write --from`).
func setupB2B(t *testing.T, extra ...string) (*proc, *cliRunner) {
	t.Helper()
	p := startClientServer(t, extra...)
	admin := newCLI(t, p, cliAdminSecret)
	admin.ok("schema", "write", referenceSchema, "--reason", "reference model")
	r := admin.ok("rel", "write", "--op", "create", "--from", testdataPath("testdata/client/b2b.txt"), "--reason", "walkthrough data")
	mustContain(t, r, r.stdout, "created: 19 relationship(s)\ntoken: ")
	return p, admin
}

// TestCheckWalkthrough runs checks through the reference schema: answers and exit
// codes, caveats, explanations, consistency, contextual relationships, check-bulk,
// permissions, expand and both lookups.
func TestCheckWalkthrough(t *testing.T) {
	_, admin := setupB2B(t)
	walkCheckAnswers(t, admin)
	walkCheckExplain(t, admin)
	walkCheckConsistency(t, admin)
	walkCheckBulk(t, admin)
	walkExpandAndLookups(t, admin)
}

// walkCheckAnswers checks answers and exit codes, and the JSON form.
func walkCheckAnswers(t *testing.T, admin *cliRunner) {
	t.Helper()
	// Answers come first, then the token; the exit status is the answer.
	checks := []struct {
		resource, permission, subject string
		extra                         []string
		answer                        string
		code                          int
	}{
		{"document:q3", "view", "user:alice", nil, "allowed", 0},
		{"document:q3", "edit", "user:alice", nil, "denied", 1},
		{"document:roadmap", "view", "user:alice", nil, "denied", 1},                        // a sibling's project
		{"document:q3", "edit", "user:bob", nil, "allowed", 0},                              // the parent's admin manages the child
		{"organization:acme", "manage", "user:carol", nil, "denied", 1},                     // the child's admin never the parent
		{"document:q3", "view", "user:mallory", nil, "denied", 1},                           // another brand's user
		{"project:apollo", "view", "user:erin", nil, "conditional (missing: client_ip)", 1}, // partner, no context
		{"project:apollo", "view", "user:erin", []string{"--context", `{"client_ip": "10.1.2.3"}`}, "allowed", 0},
		{"project:apollo", "view", "user:erin", []string{"--context", `{"client_ip": "192.168.1.1"}`}, "denied", 1},
	}
	for _, c := range checks {
		r := admin.expect(c.code, append([]string{"check", c.resource, c.permission, c.subject}, c.extra...)...)
		lines := strings.Split(r.stdout, "\n")
		if lines[0] != c.answer || !strings.HasPrefix(lines[1], "token: ") || len(lines) != 3 {
			t.Fatalf("check %s %s %s: want %q then the token:\n%s", c.resource, c.permission, c.subject, c.answer, r)
		}
	}

	// JSON.
	r := admin.expect(exitNo, "check", "project:apollo", "view", "user:erin", "-o", "json")
	doc := decodeJSON[checkJSON](t, r)
	if doc.Result != "conditional" || !slices.Equal(doc.MissingContext, []string{"client_ip"}) || doc.Token == "" || doc.Subject != "user:erin" || doc.Explanation != nil {
		t.Fatalf("check JSON: %+v", doc)
	}
}

// walkCheckExplain checks explanations with provenance, as text and JSON.
func walkCheckExplain(t *testing.T, admin *cliRunner) {
	t.Helper()
	// Explain: the granting path with provenance, results, timing; denied
	// alternatives hidden unless --explain-full.
	r := admin.ok("check", "document:q3", "view", "user:alice", "--explain")
	mustContain(t, r, r.stdout,
		"allowed\ntoken: ",
		"\ndocument:q3#view permission = ((viewer + edit + project->view) - project->blocked) & project->portal_user for user:alice  allowed",
		"── document:q3 arrow project->view  allowed",
		"── organization:acme-eu#member@user:alice  allowed",
		"written ", "by key admin, reason \"walkthrough data\"",
		"denied alternative(s) not shown; --explain-full shows them",
		"dispatches, ")
	if !regexp.MustCompile(`allowed  (cached  )?\d+(\.\d+)?(µs|ms)`).MatchString(r.stdout) {
		t.Fatalf("explain shows no timing:\n%s", r)
	}
	full := admin.ok("check", "document:q3", "view", "user:alice", "--explain-full")
	if strings.Contains(full.stdout, "not shown") || len(full.stdout) <= len(r.stdout) {
		t.Fatalf("--explain-full hides branches:\n%s", full)
	}
	mustContain(t, full, full.stdout, "── document:q3#viewer relation  denied")
	r = admin.expect(exitNo, "check", "document:q3", "view", "user:mallory", "--explain")
	mustContain(t, r, r.stdout, "denied\ntoken: ", "── project:apollo arrow owner->portal_user  denied")

	r = admin.ok("check", "document:q3", "view", "user:alice", "--explain", "-o", "json")
	doc := decodeJSON[checkJSON](t, r)
	if doc.Explanation == nil || doc.Explanation.Kind != "permission" || doc.Explanation.Result != "allowed" || doc.Explanation.Resource != "document:q3" {
		t.Fatalf("explain JSON root: %+v", doc.Explanation)
	}
	leaf := findExplain(doc.Explanation, func(n *explainJSON) bool {
		return n.Kind == "relationship" && n.Relationship != nil && n.Relationship.Text == "organization:acme-eu#member@user:alice"
	})
	if leaf == nil || leaf.Provenance == nil || leaf.Provenance.Principal != "admin" || leaf.Provenance.Reason != "walkthrough data" || leaf.Provenance.CommittedAt == "" || leaf.Provenance.Token == "" {
		t.Fatalf("explain JSON lacks the granting relationship with its provenance: %+v", leaf)
	}
}

// walkCheckConsistency checks tokens for reading one's writes, and contextual relationships.
func walkCheckConsistency(t *testing.T, admin *cliRunner) {
	t.Helper()
	// Read your writes with the token a write returns.
	r := admin.ok("rel", "write", "document:roadmap#viewer@user:alice")
	admin.ok("check", "document:roadmap", "view", "user:alice", "--consistency", "at_least_as_fresh:"+tokenOf(t, r))
	r = admin.ok("rel", "write", "--op", "delete", "document:roadmap#viewer@user:alice")
	admin.expect(exitNo, "check", "document:roadmap", "view", "user:alice", "--consistency", "at_exact_snapshot:"+tokenOf(t, r))
	admin.expect(exitNo, "check", "document:roadmap", "view", "user:alice", "--consistency", "fully_consistent")

	// Contextual relationships count for the request only.
	admin.expect(exitNo, "check", "document:roadmap", "view", "user:frank")
	admin.ok("check", "document:roadmap", "view", "user:frank",
		"--contextual", "brand:portal-a#customer@user:frank", "--contextual", "document:roadmap#viewer@user:frank")
	if r := admin.ok("rel", "read", "document:roadmap"); strings.Contains(r.stdout, "frank") {
		t.Fatalf("a contextual relationship was stored:\n%s", r)
	}
}

// walkCheckBulk checks check-bulk and permissions.
func walkCheckBulk(t *testing.T, admin *cliRunner) {
	t.Helper()
	// check-bulk: a table in request order; exit 1 when any answer is not allowed,
	// 2 when an item fails.
	r := admin.expect(exitNo, "check-bulk", "document:q3 view user:alice", "document:roadmap view user:alice")
	mustContain(t, r, r.stdout,
		"RESOURCE          PERMISSION  SUBJECT     RESULT\n"+
			"document:q3       view        user:alice  allowed\n"+
			"document:roadmap  view        user:alice  denied\n"+
			"token: ")
	checksFile := filepath.Join(t.TempDir(), "checks.txt")
	os.WriteFile(checksFile, []byte("# partner access\nproject:apollo view user:erin {\"client_ip\": \"10.1.2.3\"}\n\ndocument:q3 edit user:bob\n"), 0o600)
	admin.ok("check-bulk", "--file", checksFile)
	r = admin.expect(exitError, "check-bulk", "-o", "json", "document:q3 view user:alice", "document:q3 vew user:alice", "project:apollo view user:erin")
	bulk := decodeJSON[struct {
		Token string
		Items []bulkItemJSON
	}](t, r)
	if len(bulk.Items) != 3 || bulk.Items[0].Result != "allowed" || bulk.Items[1].Result != "error" || bulk.Items[1].Error.Status != "INVALID_ARGUMENT" ||
		!strings.Contains(bulk.Items[1].Error.Message, "vew") || bulk.Items[2].Result != "conditional" || bulk.Token == "" {
		t.Fatalf("check-bulk JSON: %+v", bulk)
	}
	r = admin.expect(exitError, "check-bulk", "document:q3 view")
	mustContain(t, r, r.stderr, `argument 1: "document:q3 view": expected RESOURCE PERMISSION SUBJECT [CONTEXT_JSON]`)

	// permissions lists the capabilities.
	r = admin.ok("permissions", "organization:acme-eu", "user:carol")
	mustContain(t, r, r.stdout, "PERMISSION       RESULT\n", "\nmanage           allowed\n", "\nbilling          denied\n")
	perms := decodeJSON[struct{ Permissions []permissionEntryJSON }](t, admin.ok("permissions", "project:apollo", "user:erin", "-o", "json"))
	if i := slices.IndexFunc(perms.Permissions, func(p permissionEntryJSON) bool { return p.Permission == "view" }); i < 0 ||
		perms.Permissions[i].Result != "conditional" || !slices.Equal(perms.Permissions[i].MissingContext, []string{"client_ip"}) {
		t.Fatalf("permissions JSON: %+v", perms)
	}
}

// walkExpandAndLookups checks expand and both lookups.
func walkExpandAndLookups(t *testing.T, admin *cliRunner) {
	t.Helper()
	// expand prints the userset tree.
	r := admin.ok("expand", "organization:acme", "admin")
	if want := "organization:acme#admin  leaf\n└── user:bob[expiration:2099-01-01T00:00:00Z]\ntoken: "; !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("expand output:\n%s\nwant prefix:\n%s", r, want)
	}
	tree := decodeJSON[struct{ Tree *expandJSON }](t, admin.ok("expand", "document:q3", "view", "-o", "json")).Tree
	if tree == nil || tree.Resource != "document:q3" || tree.Relation != "view" || len(tree.Children) == 0 {
		t.Fatalf("expand JSON: %+v", tree)
	}

	// Lookups.
	if r := admin.ok("lookup-resources", "document", "view", "user:alice"); r.stdout != "document:q3\n" {
		t.Fatalf("lookup-resources:\n%s", r)
	}
	if r := admin.ok("lookup-resources", "project", "view", "user:erin"); r.stdout != "project:apollo  conditional (missing: client_ip)\n" {
		t.Fatalf("lookup-resources with a caveat:\n%s", r)
	}
	r = admin.ok("lookup-subjects", "document:q3", "view", "user")
	if got := sortedLines(r.stdout); !slices.Equal(got, []string{"user:alice", "user:bob", "user:carol", "user:erin  conditional (missing: client_ip)"}) {
		t.Fatalf("lookup-subjects:\n%s", r)
	}
	subjects := decodeJSONLines[lookupSubjectJSON](t, admin.ok("lookup-subjects", "document:q3", "edit", "user", "-o", "json"))
	var ids []string
	for _, s := range subjects {
		ids = append(ids, s.Subject+"="+s.Result)
		if s.Token == "" || s.Cursor == "" {
			t.Fatalf("lookup-subjects JSON line without token or cursor: %+v", s)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"user:bob=allowed", "user:carol=allowed"}) {
		t.Fatalf("lookup-subjects JSON: %v", ids)
	}
}

// findExplain returns the first node of an explanation that matches.
func findExplain(n *explainJSON, match func(*explainJSON) bool) *explainJSON {
	if n == nil {
		return nil
	}
	if match(n) {
		return n
	}
	for _, c := range n.Children {
		if m := findExplain(c, match); m != nil {
			return m
		}
	}
	return nil
}

// sortedLines splits output into its non-empty lines, sorted.
func sortedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// A misspelt subject type gets the same "did you mean" from check as from rel write.
func TestMisspeltSubjectTypeSuggests(t *testing.T) {
	_, admin := setupB2B(t)
	check := admin.expect(exitError, "check", "document:q3", "view", "usr:alice")
	write := admin.expect(exitError, "rel", "write", "document:q3#viewer@usr:alice")
	const want = "subject type `usr`: definition `usr` not found (did you mean `user`?)"
	mustContain(t, check, check.stderr, "INVALID_ARGUMENT", want)
	mustContain(t, write, write.stderr, "INVALID_ARGUMENT", want)
}

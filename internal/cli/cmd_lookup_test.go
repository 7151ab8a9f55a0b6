package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestLookupBatchedPages lists more results than one batch and one server page holds:
// the CLI asks for batched results, follows pages at one snapshot, and stops at --limit
// with the flags that continue, which resume exactly after the last line.
func TestLookupBatchedPages(t *testing.T) {
	p := startClientServer(t, "--max-lookup-limit", "700")
	admin := newCLI(t, p, cliAdminSecret)
	dir := t.TempDir()
	schema := filepath.Join(dir, "schema.zed")
	if err := os.WriteFile(schema, []byte("definition user {}\ndefinition document {\n\trelation viewer: user\n\tpermission view = viewer\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin.ok("schema", "write", schema)
	var rels, docs, users []string
	for i := range 1650 {
		doc := fmt.Sprintf("document:d%04d", i)
		rels, docs = append(rels, doc+"#viewer@user:alice"), append(docs, doc)
	}
	for i := range 1100 {
		user := fmt.Sprintf("user:u%04d", i)
		rels, users = append(rels, "document:d0000#viewer@"+user), append(users, user)
	}
	users = append(users, "user:alice")
	slices.Sort(users)
	file := filepath.Join(dir, "rels.txt")
	if err := os.WriteFile(file, []byte(strings.Join(rels, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin.ok("import", file, "--no-progress")

	if r := admin.ok("lookup-resources", "document", "view", "user:alice"); !slices.Equal(strings.Fields(r.stdout), docs) {
		t.Fatalf("lookup-resources listed %d lines, want %d", len(strings.Fields(r.stdout)), len(docs))
	}
	if r := admin.ok("lookup-subjects", "document:d0000", "view", "user"); !slices.Equal(strings.Fields(r.stdout), users) {
		t.Fatalf("lookup-subjects listed %d lines, want %d", len(strings.Fields(r.stdout)), len(users))
	}
	r := admin.ok("lookup-resources", "document", "view", "user:alice", "--limit", "600")
	if got := strings.Fields(r.stdout); !slices.Equal(got, docs[:600]) {
		t.Fatalf("lookup-resources --limit 600 listed %d lines", len(got))
	}
	m := regexp.MustCompile(`--cursor (\S+) --consistency (\S+)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no continuation on stderr:\n%s", r)
	}
	rest := admin.ok("lookup-resources", "document", "view", "user:alice", "--cursor", m[1], "--consistency", m[2])
	if got := strings.Fields(rest.stdout); !slices.Equal(got, docs[600:]) {
		t.Fatalf("the continued lookup listed %d lines, want %d", len(got), len(docs)-600)
	}
}

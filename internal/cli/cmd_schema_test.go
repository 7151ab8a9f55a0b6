package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaOffline checks diff and fmt, which need no server.
func TestSchemaOffline(t *testing.T) {
	c := newCLI(t, nil, "")
	oldFile, newFile := testdataPath("testdata/client/old.zed"), testdataPath("testdata/client/new.zed")

	r := c.ok("schema", "diff", oldFile, newFile)
	want := `+ definition group
+ relation group#member: user
+ subject type document#viewer: group#member
- relation document#editor: user
+ relation document#owner: user
~ permission document#view: viewer + editor => viewer + owner
`
	if r.stdout != want {
		t.Fatalf("diff output:\n%s\nwant:\n%s", r.stdout, want)
	}
	c.expect(exitNo, "schema", "diff", "--exit-code", oldFile, newFile)
	r = c.ok("schema", "diff", "--exit-code", oldFile, oldFile)
	if r.stdout != "no changes\n" {
		t.Fatalf("diff of a file with itself:\n%s", r)
	}
	type change struct{ Kind, What, Definition, Name, Old, New, Text string }
	changes := decodeJSON[struct{ Changes []change }](t, c.ok("schema", "diff", "-o", "json", oldFile, newFile)).Changes
	if len(changes) != 6 || changes[3] != (change{Kind: "removed", What: "relation", Definition: "document", Name: "editor", Old: "user", Text: "- relation document#editor: user"}) {
		t.Fatalf("diff JSON changes: %+v", changes)
	}

	// fmt prints the canonical form; --check and -w act on it.
	golden, err := os.ReadFile(testdataPath("testdata/client/formatted.zed"))
	if err != nil {
		t.Fatal(err)
	}
	unformatted, err := os.ReadFile(testdataPath("testdata/client/unformatted.zed"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "schema.zed")
	if err := os.WriteFile(file, unformatted, 0o640); err != nil {
		t.Fatal(err)
	}
	if r := c.ok("schema", "fmt", file); r.stdout != string(golden) {
		t.Fatalf("fmt output:\n%s\nwant:\n%s", r.stdout, golden)
	}
	if r := c.runStdin(string(unformatted), "schema", "fmt", "-"); r.code != 0 || r.stdout != string(golden) {
		t.Fatalf("fmt from stdin:\n%s", r)
	}
	if r := c.expect(exitNo, "schema", "fmt", "--check", file); r.stdout != file+"\n" {
		t.Fatalf("fmt --check names the file:\n%s", r)
	}
	c.ok("schema", "fmt", "-w", file)
	if got, _ := os.ReadFile(file); string(got) != string(golden) {
		t.Fatalf("fmt -w wrote:\n%s", got)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o640 {
		t.Fatalf("fmt -w changed the file mode to %v", info.Mode().Perm())
	}
	c.ok("schema", "fmt", "--check", file)
	c.expect(exitError, "schema", "fmt", "-w", "-")

	// Errors: every one with file:line:col, the source line and a caret, exit 2.
	bad := testdataPath("testdata/client/bad.zed")
	for _, args := range [][]string{{"schema", "fmt", bad}, {"schema", "diff", oldFile, bad}} {
		r := c.expect(exitError, args...)
		mustContain(t, r, r.stderr,
			bad+":3:20: definition `usr` not found (used by relation `viewer`) (did you mean `user`?)\n      relation viewer: usr\n                       ^",
			bad+":4:21: relation or permission `viewr` not found on definition `doc`",
			"(did you mean `viewer`?)\n      permission view = viewr\n                        ^")
		if r.stdout != "" {
			t.Fatalf("a failed %v printed on stdout:\n%s", args, r)
		}
	}
}

// TestReferenceSchemaIsCanonical runs the real binary's `schema fmt --check` on the
// reference schema, so CI fails when it drifts from the canonical form.
func TestReferenceSchemaIsCanonical(t *testing.T) {
	c := newCLI(t, nil, "")
	ref := testdataPath("../../schema/b2b-ciam/schema.zed")
	if r := c.run("schema", "fmt", "--check", ref); r.code != 0 {
		t.Fatalf("%s is not in canonical form: run `pemba schema fmt -w %s`\n%s", ref, ref, r)
	}
}

// TestSchemaWriteAndRefusal writes schemas through a server: dry run, write, read back,
// compile errors against the user's file, and a refused change with its count and
// example (exit 1).
func TestSchemaWriteAndRefusal(t *testing.T) {
	p := startClientServer(t)
	admin := newCLI(t, p, cliAdminSecret)

	// A dry run on an empty tenant lists the whole schema and writes nothing.
	r := admin.ok("schema", "write", "--dry-run", referenceSchema)
	mustContain(t, r, r.stdout, "changes:\n", "  + definition organization\n", "  + grant rule organization#admin: by manage expiring within 90d\n",
		"dry run: the schema would be written")
	admin.expect(exitError, "schema", "read")

	r = admin.ok("schema", "write", referenceSchema, "--reason", "initial model")
	mustContain(t, r, r.stdout, "schema written\ntoken: ")
	want, _ := os.ReadFile(referenceSchema)
	if r := admin.ok("schema", "read"); strings.TrimSpace(r.stdout) != strings.TrimSpace(string(want)) {
		t.Fatalf("schema read does not return the schema written:\n%s", r)
	}
	r = admin.ok("schema", "write", referenceSchema, "-o", "json")
	doc := decodeJSON[schemaWriteJSON](t, r)
	if !doc.Applied || doc.DryRun || len(doc.Changes) != 0 || doc.Refusal != "" || doc.Token == "" {
		t.Fatalf("rewriting the same schema: %+v", doc)
	}

	// Removing a relation that stored relationships use is refused, dry run or not.
	admin.ok("rel", "write", "organization:acme#brand@brand:portal-a", "organization:globex#brand@brand:portal-a")
	src, _ := os.ReadFile(referenceSchema)
	changed := strings.Replace(string(src), "relation brand: brand", "relation portal: brand", 1)
	changed = strings.Replace(changed, "permission portal_user = brand->sign_in", "permission portal_user = portal->sign_in", 1)
	file := filepath.Join(t.TempDir(), "renamed.zed")
	if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{{"--dry-run"}, nil} {
		r := admin.expect(exitNo, append([]string{"schema", "write", file}, extra...)...)
		mustContain(t, r, r.stdout,
			"  - relation organization#brand: brand\n", "  + relation organization#portal: brand\n",
			"refused: it would orphan stored relationships\n",
			"relation `organization#brand`, which the new schema removes: 2 relationship(s), e.g. organization:acme#brand@brand:portal-a")
	}
	r = admin.expect(exitNo, "schema", "write", file, "-o", "json")
	if doc := decodeJSON[schemaWriteJSON](t, r); doc.Applied || !strings.Contains(doc.Refusal, "2 relationship(s)") || len(doc.Changes) != 3 {
		t.Fatalf("refused write JSON: %+v", doc)
	}
	if r := admin.ok("schema", "read"); strings.Contains(r.stdout, "relation portal") {
		t.Fatal("a refused schema was written")
	}

	// A schema that does not compile: the server refuses it and the errors name the
	// user's file.
	bad := testdataPath("testdata/client/bad.zed")
	r = admin.expect(exitError, "schema", "write", bad)
	mustContain(t, r, r.stderr, bad+":3:20: definition `usr` not found", "^")
}

// Offline commands show no connection flags; the ones that call a server do.
func TestOfflineCommandsTakeNoConnectionFlags(t *testing.T) {
	for _, args := range [][]string{{"schema", "fmt", "--help"}, {"schema", "diff", "--help"}, {"validate", "--help"}} {
		out, _, code := runPemba(t, args...)
		if code != 0 || strings.Contains(out, "--endpoint") || strings.Contains(out, "--token") {
			t.Errorf("pemba %s: exit %d, connection flags shown:\n%s", strings.Join(args, " "), code, out)
		}
	}
	for _, args := range [][]string{{"schema", "write", "--help"}, {"schema", "read", "--help"}} {
		if out, _, _ := runPemba(t, args...); !strings.Contains(out, "--endpoint") {
			t.Errorf("pemba %s does not show --endpoint:\n%s", strings.Join(args, " "), out)
		}
	}
	if _, stderr, code := runPemba(t, "schema", "fmt", "-o", "yaml", "x.zed"); code != 2 || !strings.Contains(stderr, `--output "yaml" is not a format`) {
		t.Errorf("schema fmt -o yaml: exit %d, %q", code, stderr)
	}
}

package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// A SpiceDB validation file moves onto a server in one command: its schema, then its
// relationships, and the checks it asserts hold there.
func TestImportValidationFile(t *testing.T) {
	p := startClientServer(t)
	admin := newCLI(t, p, cliAdminSecret)
	file := filepath.Join(t.TempDir(), "spicedb.yaml")
	os.WriteFile(file, []byte(`schema: |-
  definition user {}

  definition team {
    relation member: user | team#member
  }

  definition repo {
    relation reader: user | team#member
    relation banned: user
    permission read = reader - banned
  }
relationships: |-
  team:core#member@user:ann
  team:all#member@team:core#member
  repo:engine#reader@team:all#member
  repo:engine#banned@user:bob
  team:core#member@user:bob
assertions:
  assertTrue:
    - repo:engine#read@user:ann
  assertFalse:
    - repo:engine#read@user:bob
`), 0o644)

	r := admin.ok("import", "--with-schema", "--no-progress", file)
	mustContain(t, r, r.stderr, "schema written from")
	admin.ok("check", "--consistency", "fully_consistent", "repo:engine", "read", "user:ann")
	admin.expect(exitNo, "check", "--consistency", "fully_consistent", "repo:engine", "read", "user:bob")
	r = admin.ok("export")
	mustContain(t, r, r.stdout, "team:all#member@team:core#member", "repo:engine#banned@user:bob")

	// Importing it again is a no-op (touch), and --with-schema wants a validation file.
	admin.ok("import", "--no-progress", file)
	rels := filepath.Join(t.TempDir(), "rels.txt")
	os.WriteFile(rels, []byte("team:core#member@user:cy\n"), 0o644)
	r = admin.expect(exitError, "import", "--with-schema", rels)
	mustContain(t, r, r.stderr, "--with-schema needs a validation file")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("relationships: |-\n  not a relationship\n"), 0o644)
	r = admin.expect(exitError, "import", bad)
	mustContain(t, r, r.stderr, "bad.yaml")
}

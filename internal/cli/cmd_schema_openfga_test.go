package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const openfgaModel = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define owner: [user]
    define editor: [user with in_office] or owner
    define viewer: [user, group#member] or editor
condition in_office(ip: ipaddress, office: string) {
  ip.in_cidr(office)
}
`

const openfgaTuplesCSV = `user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context
user,ann,,member,group,eng,,
group,eng,member,viewer,doc,plan,,
user,bob,,owner,doc,plan,,
user,cat,,editor,doc,plan,in_office,"{""office"": ""10.0.0.0/8""}"
`

// An OpenFGA model and its tuples move over with the real binary: translate, write
// the schema, import the relationships, and check.
func TestSchemaImportOpenFGA(t *testing.T) {
	p := startClientServer(t)
	admin := newCLI(t, p, cliAdminSecret)
	dir := t.TempDir()
	model := filepath.Join(dir, "model.fga")
	tuples := filepath.Join(dir, "tuples.csv")
	rels := filepath.Join(dir, "rels.txt")
	os.WriteFile(model, []byte(openfgaModel), 0o644)
	os.WriteFile(tuples, []byte(openfgaTuplesCSV), 0o644)

	r := admin.ok("schema", "import-openfga", model, "--tuples", tuples, "--relationships", rels)
	mustContain(t, r, r.stdout, "relation editor_direct: user with in_office", "permission editor = editor_direct + owner")
	schemaFile := filepath.Join(dir, "schema.zed")
	os.WriteFile(schemaFile, []byte(r.stdout), 0o644)
	written, err := os.ReadFile(rels)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(written), "doc:plan#editor_direct@user:cat[in_office:") {
		t.Fatalf("relationships:\n%s", written)
	}
	admin.ok("schema", "write", schemaFile)
	admin.ok("import", rels)
	admin.ok("check", "--consistency", "fully_consistent", "doc:plan", "viewer", "user:ann")
	admin.ok("check", "--consistency", "fully_consistent", "doc:plan", "editor", "user:bob")
	admin.ok("check", "--consistency", "fully_consistent", "--context", `{"ip":"10.2.3.4"}`, "doc:plan", "viewer", "user:cat")
	admin.expect(exitNo, "check", "--consistency", "fully_consistent", "--context", `{"ip":"192.168.0.1"}`, "doc:plan", "viewer", "user:cat")

	// What has no equivalent is named, and nothing is written.
	bad := filepath.Join(dir, "bad.fga")
	os.WriteFile(bad, []byte("model\n  schema 1.1\ntype u\ntype doc\n  relations\n    define viewer: [person]\n"), 0o644)
	r = admin.expect(exitError, "schema", "import-openfga", bad)
	mustContain(t, r, r.stderr, "no Pemba equivalent", `type "u"`, "type person is not defined")
	badTuples := filepath.Join(dir, "bad.csv")
	os.WriteFile(badTuples, []byte("user_type,user_id,user_relation,relation,object_type,object_id\ngroup,eng,member,owner,doc,x\n"), 0o644)
	out := filepath.Join(dir, "out.txt")
	r = admin.expect(exitError, "schema", "import-openfga", model, "--tuples", badTuples, "--relationships", out)
	mustContain(t, r, r.stderr, "tuple 1", "does not allow group:eng#member on doc#owner")
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("relationships were written despite the error")
	}
	r = admin.expect(exitError, "schema", "import-openfga", model, "--tuples", tuples)
	mustContain(t, r, r.stderr, "--relationships")
}

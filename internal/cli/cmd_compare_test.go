package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pemba-authz/pemba/internal/spicedb"
	"github.com/pemba-authz/pemba/internal/spicedb/spicedbtest"
)

// migrationSchema uses what a SpiceDB schema commonly holds: nested groups, an
// exclusion, a caveat and expiring relationships.
const migrationSchema = `use expiration

definition user {}

caveat on_weekday(day string) {
  day != "saturday"
}

definition group {
  relation member: user | group#member
}

definition document {
  relation viewer: user | group#member | user with on_weekday | user with expiration
  relation banned: user
  permission view = viewer - banned
}
`

var migrationRelationships = []string{
	"group:eng#member@user:ann",
	"group:all#member@group:eng#member",
	"document:plan#viewer@group:all#member",
	"document:plan#banned@user:bob",
	"group:eng#member@user:bob",
	`document:plan#viewer@user:cy[on_weekday:{"day":"monday"}]`,
	"document:plan#viewer@user:dee[on_weekday]",
	"document:memo#viewer@user:erin[expiration:2099-01-01T00:00:00Z]",
	"document:memo#viewer@user:fay[expiration:2001-01-01T00:00:00Z]",
}

const migrationChecks = `# every kind of answer
document:plan#view@user:ann
document:plan#view@user:bob
document:plan#view@user:cy
document:plan#view@user:dee
document:plan#view@user:dee with {"day": "saturday"}
document:plan#view@user:dee with {"day": "tuesday"}
document:memo#view@user:erin
document:memo#view@user:fay
document:memo#view@user:ann
document:plan#viewer@group:all#member
`

// A SpiceDB installation moves onto Pemba and the dual run agrees: the schema as it is,
// the relationships as SpiceDB's bulk export gives them (and, on a second server, as a
// backup file), then pemba compare against the real SpiceDB server reports no
// disagreement, and reports the one a divergence makes.
func TestMigrateFromSpiceDBAndCompare(t *testing.T) {
	sdb := spicedbtest.Start(t)
	ctx := sdb.Context(context.Background())
	if _, err := v1.NewSchemaServiceClient(sdb.Conn()).WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: migrationSchema}); err != nil {
		t.Fatalf("SpiceDB WriteSchema: %v", err)
	}
	var updates []*v1.RelationshipUpdate
	for _, text := range migrationRelationships {
		r := toV1(t, text)
		updates = append(updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r})
	}
	if _, err := v1.NewPermissionsServiceClient(sdb.Conn()).WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates}); err != nil {
		t.Fatalf("SpiceDB WriteRelationships: %v", err)
	}

	dir := t.TempDir()
	schemaFile := filepath.Join(dir, "schema.zed")
	os.WriteFile(schemaFile, []byte(migrationSchema), 0o644)
	exported := filepath.Join(dir, "export.json")
	os.WriteFile(exported, bulkExport(t, sdb), 0o644)
	checks := filepath.Join(dir, "checks.txt")
	os.WriteFile(checks, []byte(migrationChecks), 0o644)
	against := []string{"--against", sdb.Endpoint, "--against-token", sdb.Key}

	// From the bulk export.
	p := startClientServer(t)
	admin := newCLI(t, p, cliAdminSecret)
	admin.ok("schema", "write", schemaFile)
	r := admin.ok("import", "--no-progress", exported)
	// SpiceDB's export leaves out the relationship that has expired.
	mustContain(t, r, r.stdout, "imported: 8 relationship(s)")
	r = admin.ok(append([]string{"compare", "--all"}, append(against, checks)...)...)
	mustContain(t, r, r.stdout, "compared 10 checks: 10 agree, 0 disagree",
		"agree    document:plan#view@user:ann: allowed",
		"agree    document:plan#view@user:dee: conditional",
		`agree    document:plan#view@user:dee with {"day": "saturday"}: denied`,
		"agree    document:memo#view@user:fay: denied")

	// A divergence is reported, in JSON too, with exit status 1.
	admin.ok("relationship", "write", "--op", "delete", "group:eng#member@user:ann")
	r = admin.expect(exitNo, append([]string{"compare"}, append(against, checks)...)...)
	mustContain(t, r, r.stdout, "DISAGREE document:plan#view@user:ann\n  pemba:   denied\n  spicedb: allowed", "compared 10 checks: 9 agree, 1 disagree")
	r = admin.expect(exitNo, append([]string{"compare", "-o", "json"}, append(against, checks)...)...)
	var report struct {
		Checks, Agree, Disagree int
		Results                 []compareResult
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("compare -o json: %v\n%s", err, r.stdout)
	}
	want := compareResult{Check: "document:plan#view@user:ann", Pemba: "denied", SpiceDB: "allowed"}
	if report.Checks != 10 || report.Disagree != 1 || len(report.Results) != 1 || report.Results[0] != want {
		t.Errorf("compare -o json = %+v", report)
	}

	// From a backup file, schema included, onto a second server.
	p2 := startClientServer(t)
	admin2 := newCLI(t, p2, cliAdminSecret)
	backup := filepath.Join(dir, "spicedb.backup")
	os.WriteFile(backup, spicedbtest.Backup(t, migrationSchema, "GhUKEzE3MzM", migrationRelationships...), 0o644)
	r = admin2.ok("import", "--with-schema", "--no-progress", backup)
	mustContain(t, r, r.stderr, "schema written from")
	mustContain(t, r, r.stdout, "imported: 9 relationship(s)")
	r = admin2.ok(append([]string{"compare"}, append(against, checks)...)...)
	mustContain(t, r, r.stdout, "compared 10 checks: 10 agree, 0 disagree")

	// A validation file's assertions are checks too.
	vf := filepath.Join(dir, "assertions.yaml")
	os.WriteFile(vf, []byte("assertions:\n  assertTrue:\n    - document:plan#view@user:ann\n  assertFalse:\n    - document:plan#view@user:bob\n"), 0o644)
	r = admin2.ok(append([]string{"compare"}, append(against, vf)...)...)
	mustContain(t, r, r.stdout, "compared 2 checks: 2 agree, 0 disagree")

	// Bad input and an unreachable SpiceDB are errors that say what is wrong.
	r = admin2.expect(exitError, "compare", checks)
	mustContain(t, r, r.stderr, "--against HOST:PORT is required")
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("document:plan#view@user:ann\ndocument:plan view\n"), 0o644)
	r = admin2.expect(exitError, append([]string{"compare"}, append(against, bad)...)...)
	mustContain(t, r, r.stderr, "bad.txt:2:")
	r = admin2.expect(exitError, "compare", "--against", sdb.Endpoint, "--against-token", "wrong", checks)
	mustContain(t, r, r.stderr, "the SpiceDB server at "+sdb.Endpoint+": PERMISSION_DENIED", "--against-token")
	r = admin2.expect(exitError, "compare", "--against", "127.0.0.1:1", checks)
	mustContain(t, r, r.stderr, "the SpiceDB server at 127.0.0.1:1: UNAVAILABLE")
}

// Relationships in the columns `zed relationship read` prints import as they are.
func TestImportZedColumns(t *testing.T) {
	p := startClientServer(t)
	admin := newCLI(t, p, cliAdminSecret)
	dir := t.TempDir()
	schemaFile := filepath.Join(dir, "schema.zed")
	os.WriteFile(schemaFile, []byte(migrationSchema), 0o644)
	admin.ok("schema", "write", schemaFile)
	rels := filepath.Join(dir, "read.txt")
	os.WriteFile(rels, []byte("group:eng member user:ann\ndocument:plan viewer group:eng#member\ndocument:plan viewer user:cy[on_weekday:{\"day\":\"monday\"}]\n"), 0o644)
	r := admin.ok("import", "--no-progress", rels)
	mustContain(t, r, r.stdout, "imported: 3 relationship(s)")
	admin.ok("check", "--consistency", "fully_consistent", "document:plan", "view", "user:ann")
	admin.ok("check", "--consistency", "fully_consistent", "document:plan", "view", "user:cy")

	// A broken backup names what is wrong and imports nothing.
	broken := filepath.Join(dir, "broken.backup")
	good := spicedbtest.Backup(t, migrationSchema, "", "group:ops#member@user:zed")
	os.WriteFile(broken, good[:len(good)-8], 0o644)
	r = admin.expect(exitError, "import", "--no-progress", broken)
	mustContain(t, r, r.stderr, "broken.backup", "invalid block")
	r = admin.expect(exitNo, "check", "--consistency", "fully_consistent", "group:ops", "member", "user:zed")
}

// bulkExport is what SpiceDB's bulk export API returns for everything it holds, as the
// JSON of its messages one after another.
func bulkExport(t *testing.T, sdb *spicedbtest.Server) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(sdb.Context(context.Background()), 30*time.Second)
	defer cancel()
	stream, err := v1.NewPermissionsServiceClient(sdb.Conn()).ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SpiceDB ExportBulkRelationships: %v", err)
		}
		b, err := protojson.MarshalOptions{Multiline: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if n := bytes.Count(buf.Bytes(), []byte(`"document"`)); n == 0 {
		t.Fatalf("the export holds no documents:\n%s", buf.String())
	}
	return buf.Bytes()
}

// toV1 writes a relationship in Pemba's text form as SpiceDB's API takes it.
func toV1(t *testing.T, text string) *v1.Relationship {
	t.Helper()
	r, err := parseRelationshipLine(text)
	if err != nil {
		t.Fatal(err)
	}
	back, err := spicedb.ToV1(r)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

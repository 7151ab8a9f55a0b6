package postgres

import (
	"bytes"
	"context"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestMigrateFreshDatabaseAndRerun(t *testing.T) {
	t.Parallel()
	uri := freshSchema(t)
	ctx := context.Background()
	var log bytes.Buffer
	if err := Migrate(ctx, uri, &log); err != nil {
		t.Fatalf("first migrate: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "at version 0, this build needs "+strconv.Itoa(int(SchemaVersion))) {
		t.Errorf("migrate log does not report the starting version:\n%s", log.String())
	}
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	v, dirty, err := schemaVersion(ctx, conn)
	if err != nil || v != SchemaVersion || dirty {
		t.Fatalf("version after migrate = %d dirty=%v err=%v, want %d", v, dirty, err, SchemaVersion)
	}
	for _, table := range []string{"tenants", "tenant_heads", "relationships", "schemas", "transactions", "transaction_changes", "transaction_objects"} {
		if _, err := conn.Exec(ctx, "SELECT 1 FROM "+table+" LIMIT 1"); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT 1 FROM transaction_organizations"); err == nil {
		t.Error("transaction_organizations is still there after migration 5")
	}
	// Collation: PostgreSQL must order the key columns byte-wise.
	var collation string
	if err := conn.QueryRow(ctx, `SELECT collation_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'relationships' AND column_name = 'resource_id'`).Scan(&collation); err != nil || collation != "C" {
		t.Errorf("relationships.resource_id collation = %q (%v), want C", collation, err)
	}

	log.Reset()
	if err := Migrate(ctx, uri, &log); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if v2, _, _ := schemaVersion(ctx, conn); v2 != SchemaVersion {
		t.Fatalf("version after re-run = %d", v2)
	}
	s, err := New(ctx, uri, Options{MaxConns: 2})
	if err != nil {
		t.Fatalf("New after migrate: %v", err)
	}
	_ = s.Close()
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	uri := freshSchema(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Migrate(context.Background(), uri, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
	}
}

func TestNewRefusesWrongSchemaVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, uri string, conn *pgx.Conn)
		want  []string
	}{
		{
			name:  "unmigrated",
			setup: func(*testing.T, string, *pgx.Conn) {},
			want:  []string{"database schema is at version 0, this build needs " + strconv.Itoa(int(SchemaVersion)), "run `pemba migrate --datastore-uri"},
		},
		{
			name: "newer",
			setup: func(t *testing.T, uri string, conn *pgx.Conn) {
				if err := Migrate(ctx, uri, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "UPDATE "+migrationsTable+" SET version = 99"); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"database schema is at version 99, newer than this build", "upgrade Pemba"},
		},
		{
			name: "dirty",
			setup: func(t *testing.T, uri string, conn *pgx.Conn) {
				if err := Migrate(ctx, uri, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "UPDATE "+migrationsTable+" SET dirty = true"); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"marked dirty at version " + strconv.Itoa(int(SchemaVersion))},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			uri := freshSchema(t)
			conn, err := pgx.Connect(ctx, uri)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			tc.setup(t, uri, conn)
			s, err := New(ctx, uri, Options{MaxConns: 2})
			if err == nil {
				_ = s.Close()
				t.Fatal("New accepted the database")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.name != "unmigrated" {
				// Migrate refuses too rather than touching a newer or broken schema.
				if err := Migrate(ctx, uri, nil); err == nil {
					t.Error("Migrate accepted the database")
				}
			}
		})
	}
}

// TestCockroachMigrationsDropOnlyCollations checks the one rewrite the CockroachDB
// migrations get.
func TestCockroachMigrationsDropOnlyCollations(t *testing.T) {
	crdb, err := cockroachMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(migrationFiles, migrationsDir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("embedded migrations: %v", err)
	}
	for _, e := range entries {
		name := migrationsDir + "/" + e.Name()
		orig, _ := fs.ReadFile(migrationFiles, name)
		got, err := fs.ReadFile(crdb, name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(got), "COLLATE") {
			t.Errorf("%s still names a collation for CockroachDB", name)
		}
		if string(got) != strings.ReplaceAll(string(orig), ` COLLATE "C"`, "") {
			t.Errorf("%s changed beyond the collation clauses", name)
		}
	}
	if v, err := latestVersion(crdb); err != nil || v != SchemaVersion {
		t.Fatalf("CockroachDB migrations end at %d (%v), want %d", v, err, SchemaVersion)
	}
}

func TestRedactURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:secret@db:5432/pemba?sslmode=require", "postgres://u:xxxxx@db:5432/pemba?sslmode=require"},
		{"postgres://u@db/pemba", "postgres://u@db/pemba"},
		{"host=db password=secret", "..."},
	}
	for _, tc := range tests {
		if got := redactURI(tc.in); got != tc.want {
			t.Errorf("redactURI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestMigrationsCarryData migrates a database holding data written under schema
// version 3 (the audit trail indexed by change and a separate organisations table) to
// the current version, and checks that the audit queries still find every record; then
// it undoes every migration and applies them again.
func TestMigrationsCarryData(t *testing.T) {
	t.Parallel()
	uri := freshSchema(t)
	ctx := context.Background()
	if err := migrateTo(ctx, uri, nil, 3); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO tenants (name, created_at) VALUES ('default', now())`,
		`INSERT INTO tenant_heads (tenant, head) VALUES ('default', 2)`,
		`INSERT INTO transactions (tenant, revision, committed_at, principal, reason, operation, organizations) VALUES
			('default', 1, now(), 'k', '', 'write', NULL),
			('default', 2, now(), 'k', '', 'write', '[{"Type": "organization", "ID": "acme"}]')`,
		`INSERT INTO transaction_changes (tenant, revision, seq, kind, resource_type, resource_id, relation, subject_type, subject_id, subject_relation) VALUES
			('default', 1, 0, 1, 'document', 'a', 'viewer', 'user', 'alice', ''),
			('default', 2, 0, 1, 'document', 'b', 'viewer', 'group', 'eng', 'member')`,
		`INSERT INTO transaction_organizations (tenant, org_type, org_id, revision) VALUES ('default', 'organization', 'acme', 2)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := Migrate(ctx, uri, nil); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, uri, Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	revs := func(f datastore.TransactionFilter) []datastore.Revision {
		var out []datastore.Revision
		for tx, err := range s.ReadTransactions(ctx, "default", f) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tx.Revision)
		}
		return out
	}
	tests := []struct {
		name string
		f    datastore.TransactionFilter
		want []datastore.Revision
	}{
		{"resource", datastore.TransactionFilter{Resource: &tuple.ObjectRef{Type: "document", ID: "a"}}, []datastore.Revision{1}},
		{"subject", datastore.TransactionFilter{Subject: &tuple.ObjectRef{Type: "group", ID: "eng"}}, []datastore.Revision{2}},
		{"organisation", datastore.TransactionFilter{Organization: &tuple.ObjectRef{Type: "organization", ID: "acme"}}, []datastore.Revision{2}},
		{"all", datastore.TransactionFilter{}, []datastore.Revision{2, 1}},
	}
	for _, tc := range tests {
		if got := revs(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	s.Close()

	if err := migrateTo(ctx, uri, nil, 0); err != nil {
		t.Fatalf("undo every migration: %v", err)
	}
	if v, _, err := schemaVersion(ctx, conn); err != nil || v != 0 {
		t.Fatalf("version after undoing everything = %d, %v", v, err)
	}
	if err := Migrate(ctx, uri, nil); err != nil {
		t.Fatalf("migrate again after undoing: %v", err)
	}
}

package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestRelationshipCountMigration migrates a database written under schema version 6,
// before tenants kept a relationship count, and checks that the count starts right
// (live versions, an expired one included, not ended ones) and that the store keeps
// it through writes and garbage collection.
func TestRelationshipCountMigration(t *testing.T) {
	t.Parallel()
	uri := freshSchema(t)
	ctx := context.Background()
	if err := migrateTo(ctx, uri, nil, 6); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO tenants (name, created_at) VALUES ('default', now()), ('other', now())`,
		`INSERT INTO tenant_heads (tenant, head) VALUES ('default', 2), ('other', 0)`,
		`INSERT INTO relationships (tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, expires_at, created_rev, deleted_rev) VALUES
			('default', 'document', 'live', 'viewer', 'user', 'x', '', NULL, 1, NULL),
			('default', 'document', 'ended', 'viewer', 'user', 'x', '', NULL, 1, 2),
			('default', 'document', 'expired', 'viewer', 'user', 'x', '', now() - interval '1 hour', 1, NULL),
			('default', 'document', 'later', 'viewer', 'user', 'x', '', now() + interval '1 hour', 2, NULL)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := Migrate(ctx, uri, nil); err != nil {
		t.Fatal(err)
	}
	count := func(tenant string) int64 {
		t.Helper()
		var n int64
		if err := conn.QueryRow(ctx, `SELECT relationship_count FROM tenant_heads WHERE tenant = $1`, tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if d, o := count("default"), count("other"); d != 3 || o != 0 {
		t.Fatalf("counts after the migration: default %d, other %d; want 3 and 0", d, o)
	}

	s, err := New(ctx, uri, Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	create := func(limit int64, rel string) error {
		_, err := s.ReadWriteTx(ctx, "default", datastore.TxMetadata{Operation: "write"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			tx.LimitRelationships(limit)
			return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpCreate, Relationship: tuple.MustParse(rel)}})
		})
		return err
	}
	var le *datastore.RelationshipLimitError
	if err := create(3, "document:new#viewer@user:x"); !errors.As(err, &le) || le.Stored != 3 || le.After != 4 {
		t.Fatalf("a fourth relationship under a limit of 3: %v", err)
	}
	if _, err := s.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count("default"); n != 2 {
		t.Fatalf("count after garbage collection removed the expired relationship: %d, want 2", n)
	}
	if err := create(3, "document:new#viewer@user:x"); err != nil {
		t.Fatalf("a third relationship under a limit of 3: %v", err)
	}
	if n := count("default"); n != 3 {
		t.Fatalf("count after a create: %d, want 3", n)
	}
}

package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// baseURI is the test database, or skips the test when none is configured. CI always
// sets PEMBA_TEST_POSTGRES_URI.
func baseURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv("PEMBA_TEST_POSTGRES_URI")
	if uri == "" {
		t.Skip("PEMBA_TEST_POSTGRES_URI is not set; these tests need PostgreSQL")
	}
	return uri
}

// freshSchema creates an empty, uniquely named schema for one test and returns a URI
// whose connections use it (search_path), so tests run in parallel and leave nothing
// behind: the schema is dropped when the test ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	base := baseURI(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "pemba_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return withParam(base, "search_path", name)
}

// withParam adds a connection parameter to a URL or key=value connection string.
func withParam(uri, key, value string) string {
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(uri) + " " + key + "=" + value
}

// newTestStore migrates a fresh schema and opens a store on it, closed at the end.
func newTestStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	uri := freshSchema(t)
	ctx := context.Background()
	if err := Migrate(ctx, uri, nil); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 6
	}
	s, err := New(ctx, uri, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, uri
}

// write commits updates of one kind in one transaction.
func write(t testing.TB, s datastore.Datastore, tenant string, op datastore.Operation, rels ...string) datastore.Revision {
	t.Helper()
	rev, err := tryWrite(s, tenant, op, rels...)
	if err != nil {
		t.Fatalf("%s %v: %v", op, rels, err)
	}
	return rev
}

func tryWrite(s datastore.Datastore, tenant string, op datastore.Operation, rels ...string) (datastore.Revision, error) {
	return s.ReadWriteTx(context.Background(), tenant, datastore.TxMetadata{Principal: "test", Operation: "write"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		ups := make([]datastore.Update, len(rels))
		for i, r := range rels {
			ups[i] = datastore.Update{Op: op, Relationship: tuple.MustParse(r)}
		}
		return tx.WriteRelationships(ctx, ups)
	})
}

// strs collects a relationship sequence as text, failing the test on an error.
func strs(t testing.TB, seq func(func(tuple.Relationship, error) bool)) []string {
	t.Helper()
	out := []string{}
	for r, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.String())
	}
	return out
}

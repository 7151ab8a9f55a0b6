package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/testenv"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// baseURI is the test database, or skips the test when none is configured. CI always
// sets PEMBA_TEST_POSTGRES_URI.
func baseURI(t testing.TB) string {
	t.Helper()
	return testenv.PostgresURI(t)
}

// freshSchema creates an empty, uniquely named schema for one test and returns a URI
// whose connections use it (search_path), so tests run in parallel and leave nothing
// behind: the schema is dropped when the test ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	return newSchema(t, true)
}

// newSchema creates a uniquely named schema and returns a URI using it. It is dropped
// at the end of the test, or, when dropAtEnd is false, at the end of the test binary.
func newSchema(t testing.TB, dropAtEnd bool) string {
	t.Helper()
	base := baseURI(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	// The creation time in the name lets a later run drop schemas a crashed run left.
	name := fmt.Sprintf("pemba_test_%d_%s", time.Now().Unix(), hex.EncodeToString(b[:]))
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
	if !dropAtEnd {
		migratedSchemas.Lock()
		migratedSchemas.all = append(migratedSchemas.all, name)
		migratedSchemas.Unlock()
		return withParam(base, "search_path", name)
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

// migratedSchemas holds emptied, migrated schemas for reuse: most tests need a fresh
// store, and truncating a schema's tables is much cheaper than creating, migrating
// and dropping a schema. TestMain drops them when the tests end.
var migratedSchemas = struct {
	sync.Mutex
	free []string // URIs of emptied schemas
	all  []string // schema names, to drop at the end
}{}

// TestMain runs the tests and drops the schemas kept for reuse. It first drops test
// schemas more than an hour old, which only a test binary that crashed leaves behind.
func TestMain(m *testing.M) {
	dropStaleSchemas()
	code := m.Run()
	testenv.ReportSkips("internal/datastore/postgres")
	if base := os.Getenv("PEMBA_TEST_POSTGRES_URI"); base != "" && len(migratedSchemas.all) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if conn, err := pgx.Connect(ctx, base); err == nil {
			for _, name := range migratedSchemas.all {
				if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
					fmt.Fprintf(os.Stderr, "drop schema %s: %v\n", name, err)
					code = 1
				}
			}
			_ = conn.Close(ctx)
		} else {
			fmt.Fprintf(os.Stderr, "connect to drop test schemas: %v\n", err)
			code = 1
		}
		cancel()
	}
	os.Exit(code)
}

func dropStaleSchemas() {
	base := os.Getenv("PEMBA_TEST_POSTGRES_URI")
	if base == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return // the tests report an unreachable database themselves
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pemba\_test\_%'`)
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) != nil {
			continue
		}
		parts := strings.Split(name, "_") // pemba, test, unix seconds, random
		if len(parts) != 4 {
			continue
		}
		if created, err := strconv.ParseInt(parts[2], 10, 64); err == nil && time.Since(time.Unix(created, 0)) > time.Hour {
			stale = append(stale, name)
		}
	}
	rows.Close()
	for _, name := range stale {
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE")
	}
}

// dataTables are emptied between tests that reuse a schema; the migration version
// table is kept.
var dataTables = "pemba_store, tenants, tenant_heads, relationships, schemas, transactions, transaction_changes, transaction_objects, records, record_keys, decisions"

// newTestStore opens a store on an empty, migrated schema of its own and closes it
// at the end of the test; the schema is then emptied and reused by a later test.
func newTestStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	baseURI(t)
	ctx := context.Background()
	migratedSchemas.Lock()
	var uri string
	if n := len(migratedSchemas.free); n > 0 {
		uri, migratedSchemas.free = migratedSchemas.free[n-1], migratedSchemas.free[:n-1]
	}
	migratedSchemas.Unlock()
	if uri == "" {
		uri = newSchema(t, false)
		if err := Migrate(ctx, uri, nil); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 6
	}
	s, err := New(ctx, uri, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, uri)
		if err != nil {
			t.Errorf("connect to empty the test schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "TRUNCATE "+dataTables); err != nil {
			t.Errorf("empty the test schema: %v", err)
			return
		}
		migratedSchemas.Lock()
		migratedSchemas.free = append(migratedSchemas.free, uri)
		migratedSchemas.Unlock()
	})
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

// Package testenv gives tests the external parts they need, and says plainly when a
// part is missing and how to provide it. It is imported only by tests.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the variable holding the URI of the PostgreSQL test database.
const PostgresEnv = "PEMBA_TEST_POSTGRES_URI"

// PostgresHowTo says how to run the PostgreSQL tests.
const PostgresHowTo = "to run them, create the database (createdb test) and set " +
	PostgresEnv + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'"

var postgresSkips atomic.Int64

// PostgresURI returns the URI of the PostgreSQL test database, or skips t (and counts
// the skip for ReportSkips) when none is configured. CI always sets it.
func PostgresURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(PostgresEnv)
	if uri == "" {
		postgresSkips.Add(1)
		t.Skip(PostgresEnv + " is not set; this test needs PostgreSQL: " + PostgresHowTo)
	}
	return uri
}

// ReportSkips writes, after a package's tests ran, one line saying how many PostgreSQL
// tests were skipped and how to run them. `go test` shows a passing package's output
// only with -v, so the line goes to the terminal when there is one (and to stderr as
// well, for -v and failing runs).
func ReportSkips(pkg string) {
	n := postgresSkips.Load()
	if n == 0 {
		return
	}
	line := fmt.Sprintf("%s: %d PostgreSQL test(s) skipped because %s is not set; %s\n", pkg, n, PostgresEnv, PostgresHowTo)
	fmt.Fprint(os.Stderr, line)
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		_, _ = io.WriteString(tty, line)
		_ = tty.Close()
	}
}

// FreshPostgresDatabase creates an empty database on the PostgreSQL test server for one
// test and returns its URI; it is dropped when the test ends. Tests that migrate the
// public schema, or start whole servers on PostgreSQL, use it so they never meet
// another test's (or another checkout's) tables. It skips t like PostgresURI.
func FreshPostgresDatabase(t testing.TB) string {
	t.Helper()
	base := PostgresURI(t)
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a URL (postgres://...) for this test: %v", PostgresEnv, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "pemba_test_db_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

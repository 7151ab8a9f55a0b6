package testenv

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestPostgresURISkipsAndCounts(t *testing.T) {
	t.Setenv(PostgresEnv, "")
	before := postgresSkips.Load()
	var ran bool
	t.Run("needs postgres", func(t *testing.T) {
		PostgresURI(t)
		ran = true
	})
	if ran || postgresSkips.Load() != before+1 {
		t.Fatalf("without %s the test went on (%v) or was not counted (%d skips)", PostgresEnv, ran, postgresSkips.Load()-before)
	}

	t.Setenv(PostgresEnv, "postgres://db.example/test")
	if got := PostgresURI(t); got != "postgres://db.example/test" {
		t.Fatalf("PostgresURI = %q", got)
	}
}

func TestReportSkipsNamesTheFix(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	postgresSkips.Store(3)
	ReportSkips("internal/x")
	os.Stderr = stderr
	w.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(r)
	for _, want := range []string{"internal/x: 3 PostgreSQL test(s) skipped", PostgresEnv + "=", "createdb test"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report %q lacks %q", out.String(), want)
		}
	}
}

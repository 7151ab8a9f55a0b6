package loadgen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/bench/dataset"
	"github.com/pemba-authz/pemba/bench/internal/servetest"
)

const testKey = "bench-test-key-0123456789"

// pembaBin is the real server binary, built once for the package's tests.
var pembaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pemba-bench-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pembaBin, err = servetest.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startServer runs `pemba serve` on a memory store and returns its gRPC address once
// it serves.
func startServer(t *testing.T) string {
	t.Helper()
	return servetest.Start(t, pembaBin, testKey)
}

// loadedSuite starts a server and imports a small dataset into it.
func loadedSuite(t *testing.T) *Suite {
	t.Helper()
	addr := startServer(t)
	p := dataset.DefaultParams()
	p.Trees, p.Chains, p.Width = 3, 1, 9
	m := dataset.MustModel(p)
	c, err := Dial(addr, 2, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := &Suite{Model: m, Client: c, PoolSize: 2000, PageSize: 100}
	text, err := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.WriteSchema(ctx, string(text)); err != nil {
		t.Fatal(err)
	}
	var want uint64
	for range m.Relationships() {
		want++
	}
	res, err := s.Import(ctx, m.Relationships(), 500, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Relationships != want || res.PerSecond <= 0 {
		t.Fatalf("import reports %+v, dataset has %d relationships", res, want)
	}
	return s
}

// TestEveryWorkloadVerifiesAgainstTheServer runs every workload briefly against a real
// server and requires answers to match the oracle.
func TestEveryWorkloadVerifiesAgainstTheServer(t *testing.T) {
	s := loadedSuite(t)
	ctx := context.Background()
	for _, wl := range Workloads() {
		prep, err := wl.Prepare(ctx, s, 4)
		if errors.Is(err, ErrSkip) {
			if wl.Name != "lookup_resources_10k" && wl.Name != "lookup_resources_1k" {
				t.Errorf("%s skipped: %v", wl.Name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", wl.Name, err)
		}
		if prep.Warm != nil {
			if err := prep.Warm(ctx); err != nil {
				t.Fatalf("%s warm-up: %v", wl.Name, err)
			}
		}
		// mixed_rw needs at least 2*WriteEvery requests to write and revoke.
		b := Bounds{Duration: 20 * time.Second, Count: 2 * WriteEvery, RequestTimeout: 20 * time.Second}
		switch {
		case strings.HasPrefix(wl.Name, "lookup"):
			b.Count = 12 // each is a multi-page lookup
		case wl.Name == "check_bulk":
			b.Count = 20
		}
		if prep.Count > 0 && prep.Count < b.Count {
			b.Count = prep.Count
		}
		start := time.Now()
		res, err := Run(ctx, wl.Name, 4, b, prep.Op)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d requests in %s", wl.Name, res.Requests, time.Since(start).Round(time.Millisecond))
		if res.Requests == 0 || res.Errors > 0 || res.Mismatches > 0 {
			t.Errorf("%s: %d requests, %d errors %v, %d mismatches %v", wl.Name, res.Requests, res.Errors, res.ErrorExamples, res.Mismatches, res.MismatchExamples)
		}
		if res.QPS <= 0 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
			t.Errorf("%s: implausible latencies %+v", wl.Name, res)
		}
		if wl.Name == "check_bulk" && res.Items != res.Requests*BulkSize {
			t.Errorf("check_bulk: %d items in %d requests", res.Items, res.Requests)
		}
	}
}

// TestWrongAnswersAreCounted proves the verification can fail: with every expected
// answer inverted each check is a mismatch.
func TestWrongAnswersAreCounted(t *testing.T) {
	s := loadedSuite(t)
	qs := s.Model.RandomChecks(1, 50)
	for i := range qs {
		qs[i].Expected = !qs[i].Expected
	}
	res, err := Run(context.Background(), "inverted", 2, Bounds{Duration: 20 * time.Second, Count: 50, RequestTimeout: 10 * time.Second}, s.checkOp(qs, minimizeLatency))
	if err != nil {
		t.Fatal(err)
	}
	if res.Mismatches != 50 || len(res.MismatchExamples) == 0 || !strings.Contains(res.MismatchExamples[0], "oracle says") {
		t.Fatalf("%d mismatches %v", res.Mismatches, res.MismatchExamples)
	}
	lq := s.Model.LookupResourcesQueries(1, 10, 100, 1, 2000)
	if len(lq) == 0 {
		t.Fatal("no lookup question")
	}
	lq[0].Expected = lq[0].Expected[1:]
	ids, err := s.LookupResources(context.Background(), lq[0])
	if err != nil {
		t.Fatal(err)
	}
	if d := compareIDs("lookup", ids, lq[0].Expected); !strings.Contains(d, "unexpected [") {
		t.Fatalf("a lookup with an extra result compares as %q", d)
	}
}

func TestRunBounds(t *testing.T) {
	op := func(context.Context, int, int64) Outcome { time.Sleep(time.Millisecond); return Outcome{} }
	res, err := Run(context.Background(), "count", 3, Bounds{Duration: time.Minute, Count: 30, RequestTimeout: time.Second}, op)
	if err != nil || res.Requests != 30 {
		t.Fatalf("count bound: %d requests, %v", res.Requests, err)
	}
	start := time.Now()
	res, err = Run(context.Background(), "time", 2, Bounds{Duration: 200 * time.Millisecond, RequestTimeout: time.Second}, op)
	if err != nil || time.Since(start) > 2*time.Second || res.Requests == 0 {
		t.Fatalf("time bound: %d requests in %s, %v", res.Requests, time.Since(start), err)
	}
	for _, b := range []Bounds{{}, {Duration: time.Hour, RequestTimeout: time.Second}, {Duration: time.Second, Count: -1, RequestTimeout: time.Second}} {
		if _, err := Run(context.Background(), "bad", 1, b, op); err == nil {
			t.Errorf("bounds %+v accepted", b)
		}
	}
	errOp := func(context.Context, int, int64) Outcome { return Outcome{Err: errors.New("boom")} }
	res, _ = Run(context.Background(), "errors", 1, Bounds{Duration: time.Second, Count: 7, RequestTimeout: time.Second}, errOp)
	if res.Errors != 7 || res.ErrorExamples[0] != "boom" {
		t.Errorf("errors: %+v", res)
	}
}

func TestCheckTargetRefusesOtherHosts(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:50051": true, "localhost:1": true, "[::1]:50051": true, "127.8.9.1:80": true,
		"10.0.0.1:50051": false, "192.168.1.2:50051": false, "example.com:443": false, "0.0.0.0:50051": false,
	} {
		err := CheckTarget("--target", addr, false)
		if (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
		if err := CheckTarget("--target", addr, true); err != nil {
			t.Errorf("%s with --allow-remote: %v", addr, err)
		}
	}
	if err := CheckTarget("--target", "no-port", true); err == nil {
		t.Error("an address without a port is accepted")
	}
}

func TestResidentMemoryOfThisProcess(t *testing.T) {
	rss, err := ResidentMemory(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("VmRSS %d, %v", rss, err)
	}
	if _, err := ResidentMemory(1 << 30); err == nil {
		t.Error("a missing process has memory")
	}
}

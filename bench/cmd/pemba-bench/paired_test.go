package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/bench/internal/servetest"
	"github.com/pemba-authz/pemba/bench/loadgen"
)

// TestPairedHealthRatios runs the command against a real server: with
// --paired-health, each run's ratio is taken against a health run measured just
// before it at the same concurrency, and the report says so.
func TestPairedHealthRatios(t *testing.T) {
	dir := t.TempDir()
	bin, err := servetest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	const key = "paired-health-test-key-0123456789"
	grpcAddr := servetest.Start(t, bin, key)

	jsonPath := filepath.Join(dir, "result.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code, err := run(ctx, []string{"--target", grpcAddr, "--preshared-key", key, "--size", "10000",
		"--workloads", "health,check_cached", "--concurrency", "2", "--duration", "300ms",
		"--paired-health", "200ms", "--schema", "../../../schema/b2b-ciam/schema.zed", "--json", jsonPath}, &out, &errb)
	if code != 0 || err != nil {
		t.Fatalf("exit %d, error %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var health, cached *loadgen.Result
	for i := range rep.Results {
		switch rep.Results[i].Workload {
		case "health":
			health = &rep.Results[i]
		case "check_cached":
			cached = &rep.Results[i]
		}
	}
	if health == nil || cached == nil {
		t.Fatalf("results lack health or check_cached: %+v", rep.Results)
	}
	if cached.HealthQPS <= 0 || cached.Ratio <= 0 {
		t.Fatalf("check_cached has no paired baseline: health_qps %v, ratio %v", cached.HealthQPS, cached.Ratio)
	}
	if got := cached.QPS / cached.HealthQPS; got != cached.Ratio {
		t.Errorf("ratio %v, want qps/health_qps = %v", cached.Ratio, got)
	}
	if !strings.Contains(cached.Note, "ratio against a health run of 200ms just before") {
		t.Errorf("note %q does not say the ratio is paired", cached.Note)
	}
	if cached.Mismatches != 0 || cached.Errors != 0 {
		t.Errorf("check_cached: %d mismatches, %d errors", cached.Mismatches, cached.Errors)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/bench/loadgen"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestPairedHealthRatios runs the command against a real server: with
// --paired-health, each run's ratio is taken against a health run measured just
// before it at the same concurrency, and the report says so.
func TestPairedHealthRatios(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pemba")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/pemba-authz/pemba/cmd/pemba")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building pemba: %v\n%s", err, out)
	}
	const key = "paired-health-test-key-0123456789"
	grpcAddr := freeAddr(t)
	srv := exec.Command(bin, "serve", "--datastore", "memory", "--grpc-addr", grpcAddr, "--http-addr", freeAddr(t),
		"--preshared-key", key, "--log-level", "warn", "--gc-interval", "0")
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})

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

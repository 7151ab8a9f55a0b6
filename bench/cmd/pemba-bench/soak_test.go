package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/bench/internal/servetest"
	"github.com/pemba-authz/pemba/bench/loadgen"
)

// TestShortSoak is the CI version of the soak: a real `pemba serve` on an embedded
// (bolt) store, a small dataset, the mix's peak measured for 2 s and a 12 s soak at a
// fifth of it. Every answer must match the oracle, no request may fail, and the
// server's memory must be sampled throughout (RSS from /proc, heap from /metrics).
// The flat-memory bound is not asserted: 12 s lie inside the warm-up (at least 2
// minutes), before which a server's memory is still growing into its caches, so the
// report must say the memory was not judged. A second soak asks a different seed's
// questions of the same server and must fail with exit code 3.
func TestShortSoak(t *testing.T) {
	dir := t.TempDir()
	bin, err := servetest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	const key = "soak-test-key-0123456789abcdef"
	srv := servetest.StartServer(t, bin, key, "--datastore", "bolt", "--datastore-path", filepath.Join(dir, "data"))
	jsonPath := filepath.Join(dir, "soak.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	common := []string{"--target", srv.GRPC, "--preshared-key", key, "--size", "10000", "--concurrency", "4",
		"--schema", "../../../schema/b2b-ciam/schema.zed", "--server-pid", strconv.Itoa(srv.PID), "--metrics-addr", srv.HTTP}
	var out, errb bytes.Buffer
	code, err := run(ctx, append(common, "--soak", "12s", "--soak-peak-duration", "2s", "--soak-fraction", "0.2",
		"--soak-sample", "1s", "--json", jsonPath), &out, &errb)
	if code != 0 || err != nil {
		t.Fatalf("exit %d, error %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	rep := readReport(t, jsonPath)
	s := rep.Soak
	if s == nil {
		t.Fatalf("the report has no soak:\n%s", out.String())
	}
	if !s.Pass || s.Errors != 0 || s.Mismatches != 0 || len(rep.Failures) > 0 {
		t.Errorf("soak: pass %v, %d errors, %d mismatches, failures %v", s.Pass, s.Errors, s.Mismatches, rep.Failures)
	}
	if s.Requests == 0 || s.Checks == 0 || s.Writes == 0 || s.Lookups == 0 || s.Checks+s.Writes+s.Lookups != s.Requests {
		t.Errorf("soak: %d requests = %d checks + %d writes + %d lookups", s.Requests, s.Checks, s.Writes, s.Lookups)
	}
	if s.PeakQPS <= 0 || s.Rate != s.PeakQPS*0.2 {
		t.Errorf("soak: rate %v is not a fifth of the peak %v", s.Rate, s.PeakQPS)
	}
	if len(rep.Results) != 2 || rep.Results[0].Workload != "soak_peak" || rep.Results[1].Workload != "soak" {
		t.Errorf("results: %+v", rep.Results)
	}
	checkSamples(t, s)
	if s.Memory.Judged || s.Memory.WarmupSeconds != 120 {
		t.Errorf("memory of a 12 s soak judged %v with a warm-up of %vs; want not judged, 120s", s.Memory.Judged, s.Memory.WarmupSeconds)
	}
	for _, line := range []string{"soak: PASS", "0 errors, 0 mismatches", "not judged"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the report lacks %q:\n%s", line, out.String())
		}
	}

	// The server holds seed 1; seed 2's oracle expects other answers.
	out.Reset()
	errb.Reset()
	code, err = run(ctx, append(common, "--skip-load", "--seed", "2", "--soak", "3s", "--soak-rate", "100", "--soak-sample", "1s"), &out, &errb)
	if code != 3 || err != nil || !strings.Contains(out.String(), "soak: FAIL") || !strings.Contains(out.String(), "answers differ from the oracle") {
		t.Errorf("a soak of wrong answers: exit %d, error %v; want exit 3 and a FAIL\n%s", code, err, out.String())
	}
}

// checkSamples requires a memory sample at least every other second of the run, each
// with the server's RSS and heap, and totals that only grow up to the run's.
func checkSamples(t *testing.T, s *loadgen.SoakResult) {
	t.Helper()
	if len(s.Samples) < 7 {
		t.Fatalf("%d memory samples in a 12 s soak sampled every second", len(s.Samples))
	}
	var prev loadgen.MemorySample
	for i, m := range s.Samples {
		if m.RSSBytes == 0 || m.HeapInuseBytes == 0 || m.Seconds < prev.Seconds || m.Requests < prev.Requests {
			t.Errorf("sample %d %+v after %+v", i, m, prev)
		}
		prev = m
	}
	if prev.Requests != s.Requests || prev.Seconds < 11 {
		t.Errorf("last sample %+v; the soak made %d requests in %.1fs", prev, s.Requests, s.Seconds)
	}
}

func readReport(t *testing.T, path string) loadgen.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRefusesBadInvocations checks that the command refuses, before connecting to
// anything, targets off loopback and flags that would not bound a run.
func TestRefusesBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "10.1.2.3:50051"}, "not a loopback address"},
		{[]string{"--target", "example.com:50051"}, "not a loopback address"},
		{[]string{"--target", "nohostport"}, "not host:port"},
		{[]string{"--duration", "0s"}, "duration"},
		{[]string{"--duration", "2h"}, "duration"},
		{[]string{"--count", "-1"}, "negative"},
		{[]string{"--concurrency", "0"}, "--concurrency"},
		{[]string{"--concurrency", "1,x"}, "--concurrency"},
		{[]string{"--workloads", "check,nope"}, `unknown workload "nope"`},
		{[]string{"--cpuprofile", "x.pprof"}, "--pprof-addr"},
		{[]string{"--cpuprofile", "x.pprof", "--pprof-addr", "192.168.0.1:6060"}, "not a loopback address"},
		{[]string{"--size", "10"}, "out of range"},
		{[]string{"--profile-workload", "check,imports"}, `unknown workload "imports"`},
		{[]string{"--fan-out", "0"}, "fan_out"},
		{[]string{"--paired-health", "-1s"}, "--paired-health"},
		{[]string{"--paired-health", "2h"}, "--paired-health"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"--soak", "1m"}, "--server-pid"},
		{[]string{"--soak", "13h", "--server-pid", "1"}, "--soak 13h0m0s"},
		{[]string{"--soak", "1m", "--server-pid", "1", "--soak-fraction", "0"}, "--soak-fraction"},
		{[]string{"--soak", "1m", "--server-pid", "1", "--soak-fraction", "1.5"}, "--soak-fraction"},
		{[]string{"--soak", "1m", "--server-pid", "1", "--soak-rate", "-5"}, "--soak-rate"},
		{[]string{"--soak", "1m", "--server-pid", "1", "--soak-peak-duration", "0s"}, "--soak-peak-duration"},
		{[]string{"--soak", "1m", "--server-pid", "1", "--soak-sample", "2m"}, "--soak-sample"},
		{[]string{"--soak", "1m", "--server-pid", "1", "--soak-warmup", "1m"}, "--soak-warmup"},
		{[]string{"--soak", "1m", "--server-pid", "1", "--metrics-addr", "10.0.0.1:8080"}, "not a loopback address"},
	} {
		var out, errb bytes.Buffer
		code, err := run(context.Background(), tc.args, &out, &errb)
		if code == 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: exit %d, error %v; want an error containing %q", tc.args, code, err, tc.want)
		}
	}
}

func TestProfilesAreNamedRelativeToTheReport(t *testing.T) {
	for _, tc := range []struct{ dir, path, want string }{
		{"/runs/row", "/runs/row/cpu.pprof", "cpu.pprof"},
		{"/runs/row", "/runs/row/prof/heap.pprof", "prof/heap.pprof"},
		{"/runs/row", "/elsewhere/cpu.pprof", "/elsewhere/cpu.pprof"},
		{"/runs/row", "/runs/row-2/cpu.pprof", "/runs/row-2/cpu.pprof"},
	} {
		if got := relativeTo(tc.dir, tc.path); got != tc.want {
			t.Errorf("relativeTo(%q, %q) = %q, want %q", tc.dir, tc.path, got, tc.want)
		}
	}
}

package fairness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/pemba-authz/pemba/bench/internal/servetest"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

const benchKey = "fairness-bench-key"

// The noisy tenant's process is this test binary, started with these variables set.
const (
	envNoisyTarget = "PEMBA_FAIRNESS_NOISY_TARGET" // the server's gRPC address
	envNoisyRate   = "PEMBA_FAIRNESS_NOISY_RATE"   // requests per second
)

func TestMain(m *testing.M) {
	if target := os.Getenv(envNoisyTarget); target != "" {
		os.Exit(runNoisy(target, os.Getenv(envNoisyRate)))
	}
	os.Exit(m.Run())
}

// runNoisy is the noisy tenant's process: it checks in tenant-a at the rate until its
// standard input closes (or 10 minutes pass), prints "ready" once connected and its
// Result's counts as JSON at the end.
func runNoisy(target, rateText string) int {
	rate, err := strconv.ParseFloat(rateText, 64)
	if err != nil || rate <= 0 {
		fmt.Fprintf(os.Stderr, "%s=%q is not a rate\n", envNoisyRate, rateText)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	client, closeConn, err := dial(target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer closeConn()
	call := checkIn(client, "tenant-a")
	if err := call(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "first check:", err)
		return 2
	}
	fmt.Println("ready")
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n') // returns when the benchmark closes stdin
		cancel()
	}()
	res := Steady(ctx, rate, 128, call)
	counts := map[string]int64{"seconds_ms": res.Elapsed.Milliseconds()}
	for c, n := range res.Codes {
		counts[c.String()] = n
	}
	json.NewEncoder(os.Stdout).Encode(counts)
	return 0
}

func dial(target string) (pb.PermissionServiceClient, func(), error) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return pb.NewPermissionServiceClient(conn), func() { conn.Close() }, nil
}

// checkIn returns a call that checks one cached question in a tenant.
func checkIn(client pb.PermissionServiceClient, tenant string) func(context.Context) error {
	req := &pb.CheckRequest{
		Tenant:     tenant,
		Resource:   &pb.ObjectReference{Type: "document", Id: "d1"},
		Permission: "view",
		Subject:    &pb.SubjectReference{Type: "user", Id: "alice"},
	}
	return func(ctx context.Context) error {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+benchKey)
		_, err := client.Check(ctx, req)
		return err
	}
}

// noisy is a running noisy-tenant process.
type noisy struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	out   *bufio.Reader
}

// startNoisy starts the noisy tenant's process against target and waits until it
// has connected.
func startNoisy(b *testing.B, target string, rate float64) *noisy {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNoisyTarget+"="+target, envNoisyRate+"="+strconv.FormatFloat(rate, 'f', -1, 64))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	n := &noisy{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	if line, err := n.out.ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("the noisy tenant's process did not start: %q %v", line, err)
	}
	return n
}

// stop ends the noisy load and returns its admitted and refused rates.
func (n *noisy) stop(b *testing.B) (admitted, refused float64) {
	n.stdin.Close()
	var counts map[string]int64
	if err := json.NewDecoder(n.out).Decode(&counts); err != nil {
		b.Fatalf("the noisy tenant's counts: %v", err)
	}
	n.cmd.Wait()
	secs := float64(counts["seconds_ms"]) / 1000
	if other := sumOther(counts); other > 0 {
		b.Errorf("the noisy tenant had %d answers other than OK and RESOURCE_EXHAUSTED: %v", other, counts)
	}
	return float64(counts[codes.OK.String()]) / secs, float64(counts[codes.ResourceExhausted.String()]) / secs
}

func sumOther(counts map[string]int64) int64 {
	var n int64
	for k, v := range counts {
		if k != "seconds_ms" && k != codes.OK.String() && k != codes.ResourceExhausted.String() {
			n += v
		}
	}
	return n
}

// setupTenants gives tenant-a and tenant-b the same schema and relationships.
func setupTenants(b *testing.B, target string) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+benchKey)
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		if _, err := pb.NewTenantServiceClient(conn).CreateTenant(ctx, &pb.CreateTenantRequest{Tenant: tenant}); err != nil {
			b.Fatal(err)
		}
		schema := "definition user {}\ndefinition group { relation member: user }\ndefinition document { relation viewer: user | group#member\n permission view = viewer }"
		if _, err := pb.NewSchemaServiceClient(conn).WriteSchema(ctx, &pb.WriteSchemaRequest{Tenant: tenant, Schema: schema}); err != nil {
			b.Fatal(err)
		}
		var ups []*pb.RelationshipUpdate
		for _, r := range [][4]string{{"document", "d1", "viewer", "group:g#member"}, {"group", "g", "member", "user:alice"}} {
			subj := &pb.SubjectReference{Type: "group", Id: "g", Relation: "member"}
			if r[0] == "group" {
				subj = &pb.SubjectReference{Type: "user", Id: "alice"}
			}
			ups = append(ups, &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: &pb.Relationship{
				Resource: &pb.ObjectReference{Type: r[0], Id: r[1]}, Relation: r[2], Subject: subj,
			}})
		}
		if _, err := pb.NewRelationshipServiceClient(conn).WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Tenant: tenant, Updates: ups}); err != nil {
			b.Fatal(err)
		}
	}
}

func envFloat(b *testing.B, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		b.Fatalf("%s=%q: %v", name, v, err)
	}
	return f
}

// BenchmarkNoisyTenant measures how much a tenant driving ten times its rate quota
// slows another tenant's checks, against a real `pemba serve` on the memory store.
// Tenant A has a quota of PEMBA_BENCH_QUOTA requests per second (default 500) and,
// from a process of its own, sends ten times that; tenant B, without a quota, checks
// at PEMBA_BENCH_B_RATE per second (default 500) from this process. Phases of
// PEMBA_BENCH_SECONDS (default 5) alternate B alone and B beside A, three times, so
// drifts in the machine's load fall on both, and the medians of B's p99 are
// compared. A last phase sends A's load to a server without quotas, to show what
// the quota saves B. It ignores b.N: run it with -benchtime 1x.
func BenchmarkNoisyTenant(b *testing.B) {
	quota := envFloat(b, "PEMBA_BENCH_QUOTA", 500)
	bRate := envFloat(b, "PEMBA_BENCH_B_RATE", 500)
	phase := time.Duration(envFloat(b, "PEMBA_BENCH_SECONDS", 5) * float64(time.Second))
	dir := b.TempDir()
	bin, err := servetest.Build(dir)
	if err != nil {
		b.Fatal(err)
	}
	quotas := filepath.Join(dir, "quotas.yaml")
	if err := os.WriteFile(quotas, fmt.Appendf(nil, "tenants:\n  tenant-a: {requests_per_second: %g}\n", quota), 0o600); err != nil {
		b.Fatal(err)
	}
	limited := servetest.Start(b, bin, benchKey, "--quota-file", quotas)
	open := servetest.Start(b, bin, benchKey)
	setupTenants(b, limited)
	setupTenants(b, open)

	measureB := func(target string) Result {
		client, closeConn, err := dial(target)
		if err != nil {
			b.Fatal(err)
		}
		defer closeConn()
		ctx, cancel := context.WithTimeout(context.Background(), phase)
		defer cancel()
		res := Steady(ctx, bRate, 4, checkIn(client, "tenant-b"))
		if failed := int64(len(res.Latencies)) != res.Codes[codes.OK] || len(res.Codes) > 1; failed {
			b.Errorf("tenant B's checks failed: %v", res.Codes)
		}
		return res
	}
	beside := func(target string) (Result, float64, float64) {
		n := startNoisy(b, target, 10*quota)
		res := measureB(target)
		admitted, refused := n.stop(b)
		return res, admitted, refused
	}
	measureB(limited) // warm up
	var alone, noisy []time.Duration
	for round := range 3 {
		a := measureB(limited)
		n, admitted, refused := beside(limited)
		alone, noisy = append(alone, a.Percentile(0.99)), append(noisy, n.Percentile(0.99))
		b.Logf("round %d: B alone p50 %v p99 %v; beside A p50 %v p99 %v; A sent %.0f/s, admitted %.0f/s",
			round+1, a.Percentile(0.5), a.Percentile(0.99), n.Percentile(0.5), n.Percentile(0.99), admitted+refused, admitted)
	}
	measureB(open) // warm up
	unlimited, served, _ := beside(open)
	b.Logf("without quotas: B beside A p50 %v p99 %v; A served %.0f/s", unlimited.Percentile(0.5), unlimited.Percentile(0.99), served)

	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	ratio := float64(median(noisy)) / float64(median(alone))
	b.ReportMetric(us(median(alone)), "B-p99-alone-µs")
	b.ReportMetric(us(median(noisy)), "B-p99-beside-A-µs")
	b.ReportMetric(ratio, "p99-ratio")
	b.ReportMetric(us(unlimited.Percentile(0.99)), "B-p99-no-quota-µs")
	if ratio > 2 {
		b.Logf("B's p99 beside A is %.2f× its p99 alone, over the target of 2×", ratio)
	}
}

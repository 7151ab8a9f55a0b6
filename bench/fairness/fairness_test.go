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
	"sync/atomic"
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
	// envNoisyChecks is "fresh" (the default: uncached checks through the chain of
	// groups) or "cached" (the one cached check tenant B asks too).
	envNoisyChecks = "PEMBA_BENCH_A_CHECKS"
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
	call := freshChecksIn(client, "tenant-a")
	switch kind := os.Getenv(envNoisyChecks); kind {
	case "", "fresh":
	case "cached":
		call = checkIn(client, "tenant-a")
	default:
		fmt.Fprintf(os.Stderr, "%s=%q is neither fresh nor cached\n", envNoisyChecks, kind)
		return 2
	}
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

// checkIn returns a call that checks one question in a tenant, at the consistency
// most checks use: cheap, because the answer is cached.
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

// freshChecksIn returns a call that checks, fully consistent, whether one of the
// tenant's many users may view d1 through the chain of nested groups: a different
// user each time, so nothing comes from the cache and each check walks the chain.
func freshChecksIn(client pb.PermissionServiceClient, tenant string) func(context.Context) error {
	var n atomic.Uint64
	return func(ctx context.Context) error {
		req := &pb.CheckRequest{
			Tenant:      tenant,
			Resource:    &pb.ObjectReference{Type: "document", Id: "d1"},
			Permission:  "view",
			Subject:     &pb.SubjectReference{Type: "user", Id: fmt.Sprintf("u%d", n.Add(1)%chainUsers)},
			Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
		}
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

// The tenants' data: alice views d1 through group g, and chainUsers users view it
// through a chain of chainDepth nested groups.
const (
	chainDepth = 8
	chainUsers = 2000
)

// setupTenants gives tenant-a and tenant-b the same schema and relationships.
func setupTenants(b *testing.B, target string) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+benchKey)
	touch := func(res *pb.ObjectReference, relation string, subj *pb.SubjectReference) *pb.RelationshipUpdate {
		return &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_TOUCH,
			Relationship: &pb.Relationship{Resource: res, Relation: relation, Subject: subj}}
	}
	group := func(id string) *pb.ObjectReference { return &pb.ObjectReference{Type: "group", Id: id} }
	members := func(id string) *pb.SubjectReference {
		return &pb.SubjectReference{Type: "group", Id: id, Relation: "member"}
	}
	user := func(id string) *pb.SubjectReference { return &pb.SubjectReference{Type: "user", Id: id} }
	d1 := &pb.ObjectReference{Type: "document", Id: "d1"}
	ups := []*pb.RelationshipUpdate{touch(d1, "viewer", members("g")), touch(group("g"), "member", user("alice")), touch(d1, "viewer", members("c0"))}
	for i := range chainDepth - 1 {
		ups = append(ups, touch(group(fmt.Sprintf("c%d", i)), "member", members(fmt.Sprintf("c%d", i+1))))
	}
	for i := range chainUsers {
		ups = append(ups, touch(group(fmt.Sprintf("c%d", chainDepth-1)), "member", user(fmt.Sprintf("u%d", i))))
	}
	schema := "definition user {}\ndefinition group { relation member: user | group#member }\ndefinition document { relation viewer: user | group#member\n permission view = viewer }"
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		if _, err := pb.NewTenantServiceClient(conn).CreateTenant(ctx, &pb.CreateTenantRequest{Tenant: tenant}); err != nil {
			b.Fatal(err)
		}
		if _, err := pb.NewSchemaServiceClient(conn).WriteSchema(ctx, &pb.WriteSchemaRequest{Tenant: tenant, Schema: schema}); err != nil {
			b.Fatal(err)
		}
		for start := 0; start < len(ups); start += 1000 {
			batch := ups[start:min(len(ups), start+1000)]
			if _, err := pb.NewRelationshipServiceClient(conn).WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Tenant: tenant, Updates: batch}); err != nil {
				b.Fatal(err)
			}
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
// Tenant A has a quota of PEMBA_BENCH_QUOTA requests per second (default 500) and
// sends, from a process of its own, fresh checks through eight nested groups (or,
// with PEMBA_BENCH_A_CHECKS=cached, one cached check). Tenant B, without a quota,
// asks one cached check at PEMBA_BENCH_B_RATE per second (default 500) from this
// process. Each round has three phases of PEMBA_BENCH_SECONDS (default 5): B alone,
// B beside A at its quota, B beside A at ten times its quota; three rounds, so drifts
// in the machine's load fall on every phase, and the medians of B's p99 are
// compared. A last phase sends ten times A's quota to a server without quotas, to
// show what the quota saves B. It ignores b.N: run it with -benchtime 1x.
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
	// A burst of a tenth of a second lets A's requests at its quota through despite
	// the jitter of their arrival, and starts each phase only that far above it.
	burst := max(1, int(quota/10))
	if err := os.WriteFile(quotas, fmt.Appendf(nil, "tenants:\n  tenant-a: {requests_per_second: %g, burst: %d}\n", quota, burst), 0o600); err != nil {
		b.Fatal(err)
	}
	limited := servetest.Start(b, bin, benchKey, "--quota-file", quotas)
	open := servetest.Start(b, bin, benchKey)
	setupTenants(b, limited)
	setupTenants(b, open)

	// phase measures B for one phase, beside A sending at aRate (0: not at all).
	phaseOf := func(target string, aRate float64) (res Result, admitted, refused float64) {
		var n *noisy
		if aRate > 0 {
			n = startNoisy(b, target, aRate)
		}
		client, closeConn, err := dial(target)
		if err != nil {
			b.Fatal(err)
		}
		defer closeConn()
		ctx, cancel := context.WithTimeout(context.Background(), phase)
		defer cancel()
		res = Steady(ctx, bRate, 4, checkIn(client, "tenant-b"))
		if len(res.Codes) > 1 {
			b.Errorf("tenant B's checks failed: %v", res.Codes)
		}
		if n != nil {
			admitted, refused = n.stop(b)
		}
		return res, admitted, refused
	}
	phaseOf(limited, 0) // warm up
	var alone, atQuota, over []time.Duration
	for round := range 3 {
		a, _, _ := phaseOf(limited, 0)
		q, qAdmitted, _ := phaseOf(limited, quota)
		o, oAdmitted, oRefused := phaseOf(limited, 10*quota)
		alone, atQuota, over = append(alone, a.Percentile(0.99)), append(atQuota, q.Percentile(0.99)), append(over, o.Percentile(0.99))
		b.Logf("round %d: B p50/p99 alone %v/%v; beside A at its quota %v/%v (A served %.0f/s); beside A at 10× %v/%v (A sent %.0f/s, served %.0f/s)",
			round+1, a.Percentile(0.5), a.Percentile(0.99), q.Percentile(0.5), q.Percentile(0.99), qAdmitted,
			o.Percentile(0.5), o.Percentile(0.99), oAdmitted+oRefused, oAdmitted)
	}
	phaseOf(open, 0) // warm up
	unlimited, served, _ := phaseOf(open, 10*quota)
	b.Logf("without quotas: B p50/p99 beside A at 10× %v/%v; A served %.0f/s", unlimited.Percentile(0.5), unlimited.Percentile(0.99), served)

	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(median(alone)), "B-p99-alone-µs")
	b.ReportMetric(us(median(atQuota)), "B-p99-A-at-quota-µs")
	b.ReportMetric(us(median(over)), "B-p99-A-at-10x-µs")
	b.ReportMetric(us(unlimited.Percentile(0.99)), "B-p99-A-at-10x-no-quota-µs")
	b.ReportMetric(float64(median(over))/float64(median(alone)), "10x/alone")
	b.ReportMetric(float64(median(over))/float64(median(atQuota)), "10x/at-quota")
}

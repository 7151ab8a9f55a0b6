package server_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// noisyLoad is one phase of BenchmarkNoisyTenant: tenant B checks at a steady rate
// while tenant A sends at its own rate (0: not at all).
type noisyLoad struct {
	bRate, aRate float64
	duration     time.Duration
}

// noisyResult is what a phase measured.
type noisyResult struct {
	bLatencies             []time.Duration // sorted
	aAdmitted, aRefused    int64
	bFailures, aOtherError int64
}

func (r noisyResult) percentile(p float64) time.Duration {
	if len(r.bLatencies) == 0 {
		return 0
	}
	return r.bLatencies[min(len(r.bLatencies)-1, int(p*float64(len(r.bLatencies))))]
}

// paced runs workers that together call fn at rate per second until the phase ends;
// each worker keeps its own schedule and, when a call runs late, goes on at once.
func paced(ctx context.Context, wg *sync.WaitGroup, rate float64, workers int, fn func()) {
	interval := time.Duration(float64(workers) * float64(time.Second) / rate)
	for w := range workers {
		wg.Go(func() {
			next := time.Now().Add(time.Duration(w) * interval / time.Duration(workers))
			for ctx.Err() == nil {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				fn()
				next = next.Add(interval)
			}
		})
	}
}

// runNoisy runs one phase against ts: A's and B's checks go over separate
// connections, as separate clients would.
func runNoisy(b *testing.B, ts *testServer, load noisyLoad) noisyResult {
	connect := func() pb.PermissionServiceClient {
		conn, err := grpc.NewClient(ts.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		return pb.NewPermissionServiceClient(conn)
	}
	aClient, bClient := connect(), connect()
	ctx, cancel := context.WithTimeout(context.Background(), load.duration)
	defer cancel()
	reqA := checkReq("tenant-a", "document:d1", "view", "user:alice")
	reqB := checkReq("tenant-b", "document:d1", "view", "user:alice")
	reqA.Consistency, reqB.Consistency = nil, nil // minimize_latency, as most checks run
	var (
		res noisyResult
		mu  sync.Mutex
		wg  sync.WaitGroup
	)
	paced(ctx, &wg, load.bRate, 4, func() {
		start := time.Now()
		_, err := bClient.Check(as(readerSecret), reqB)
		el := time.Since(start)
		if err != nil {
			atomic.AddInt64(&res.bFailures, 1)
			return
		}
		mu.Lock()
		res.bLatencies = append(res.bLatencies, el)
		mu.Unlock()
	})
	if load.aRate > 0 {
		paced(ctx, &wg, load.aRate, 32, func() {
			_, err := aClient.Check(as(readerSecret), reqA)
			switch status.Code(err) {
			case codes.OK:
				atomic.AddInt64(&res.aAdmitted, 1)
			case codes.ResourceExhausted:
				atomic.AddInt64(&res.aRefused, 1)
			default:
				atomic.AddInt64(&res.aOtherError, 1)
			}
		})
	}
	wg.Wait()
	slices.Sort(res.bLatencies)
	return res
}

// envFloat reads a benchmark parameter from the environment.
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
// slows another tenant's checks. Tenant A has a quota of PEMBA_BENCH_QUOTA requests
// per second (default 500) and sends ten times that; tenant B, without a quota,
// checks at PEMBA_BENCH_B_RATE per second (default 500). Phases of
// PEMBA_BENCH_SECONDS (default 5) alternate B alone and B beside A, three times, so
// drifts in the machine's load fall on both, and the medians of B's p99 are
// compared. A last phase lets A send the same load to a server without quotas, to
// show what the quota saves B. It ignores b.N: run it with -benchtime 1x.
func BenchmarkNoisyTenant(b *testing.B) {
	quota := envFloat(b, "PEMBA_BENCH_QUOTA", 500)
	bRate := envFloat(b, "PEMBA_BENCH_B_RATE", 500)
	phase := time.Duration(envFloat(b, "PEMBA_BENCH_SECONDS", 5) * float64(time.Second))
	setup := func(ts *testServer) {
		for _, tenant := range []string{"tenant-a", "tenant-b"} {
			if _, err := ts.tenants().CreateTenant(as(adminSecret), &pb.CreateTenantRequest{Tenant: tenant}); err != nil {
				b.Fatal(err)
			}
			ts.writeSchema(b, tenant)
			ts.touch(b, tenant, "document:d1#viewer@group:g#member", "group:g#member@user:alice")
		}
	}
	limited := startServer(b, func(c *server.Config) {
		quietLogs(c)
		c.Quotas.Tenants = map[string]server.TenantQuota{"tenant-a": {Quota: server.Quota{RequestsPerSecond: quota}}}
	})
	setup(limited)
	runNoisy(b, limited, noisyLoad{bRate: bRate, duration: time.Second}) // warm up

	var alone, noisy []noisyResult
	for range 3 {
		alone = append(alone, runNoisy(b, limited, noisyLoad{bRate: bRate, duration: phase}))
		noisy = append(noisy, runNoisy(b, limited, noisyLoad{bRate: bRate, aRate: 10 * quota, duration: phase}))
	}
	open := startServer(b, quietLogs)
	setup(open)
	runNoisy(b, open, noisyLoad{bRate: bRate, duration: time.Second})
	unlimited := runNoisy(b, open, noisyLoad{bRate: bRate, aRate: 10 * quota, duration: phase})

	medianP99 := func(rs []noisyResult) time.Duration {
		var p99s []time.Duration
		for _, r := range rs {
			p99s = append(p99s, r.percentile(0.99))
		}
		slices.Sort(p99s)
		return p99s[len(p99s)/2]
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	for i := range alone {
		a, n := alone[i], noisy[i]
		b.Logf("round %d: B alone p50 %v p99 %v (%d checks); beside A p50 %v p99 %v (%d checks); A admitted %.0f/s, refused %.0f/s; failures B %d, A %d",
			i+1, a.percentile(0.5), a.percentile(0.99), len(a.bLatencies), n.percentile(0.5), n.percentile(0.99), len(n.bLatencies),
			float64(n.aAdmitted)/phase.Seconds(), float64(n.aRefused)/phase.Seconds(), a.bFailures+n.bFailures, n.aOtherError)
		if a.bFailures+n.bFailures > 0 || n.aOtherError > 0 {
			b.Errorf("round %d: checks failed other than by A's quota", i+1)
		}
	}
	b.Logf("without quotas: B beside A p50 %v p99 %v; A served %.0f/s", unlimited.percentile(0.5), unlimited.percentile(0.99), float64(unlimited.aAdmitted)/phase.Seconds())
	ratio := float64(medianP99(noisy)) / float64(medianP99(alone))
	b.ReportMetric(us(medianP99(alone)), "B-p99-alone-µs")
	b.ReportMetric(us(medianP99(noisy)), "B-p99-beside-A-µs")
	b.ReportMetric(ratio, "p99-ratio")
	b.ReportMetric(us(unlimited.percentile(0.99)), "B-p99-no-quota-µs")
	b.ReportMetric(float64(noisy[len(noisy)-1].aAdmitted)/phase.Seconds(), "A-admitted/s")
	if ratio > 2 {
		b.Log(fmt.Sprintf("B's p99 beside A is %.2f× its p99 alone, over the target of 2×", ratio))
	}
}

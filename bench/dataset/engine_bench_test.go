package dataset

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// benchSize is the dataset size of the in-process mix benchmarks:
// PEMBA_BENCH_SIZE, default 100k relationships.
func benchSize(b *testing.B) int64 {
	if s := os.Getenv("PEMBA_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatalf("PEMBA_BENCH_SIZE=%q: %v", s, err)
		}
		return n
	}
	return 100_000
}

// BenchmarkEngineMix runs the load generator's realistic check mix in process, on the
// reference schema and dataset, through the in-memory index as the server does:
// uncached (every question new to the cache) and repeated (a hot set). Run with
// PEMBA_BENCH_SIZE=1000000 for the 1M-relationship numbers; add -cpuprofile to see
// where the engine spends its time without the transport.
func BenchmarkEngineMix(b *testing.B) {
	p, err := ForSize(DefaultParams(), benchSize(b))
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewModel(p)
	if err != nil {
		b.Fatal(err)
	}
	eng, rev, ix := loadIndexedEngine(b, m)
	qs := m.RandomChecks(1, 200_000)
	req := func(i int) engine.CheckRequest {
		q := qs[i%len(qs)]
		return engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: q.Resource, Permission: q.Permission,
			Subject: q.Subject, Context: map[string]any{"client_ip": q.ClientIP.String()}}
	}
	run := func(b *testing.B, pick func(i int) int) {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := pick(int(next.Add(1)))
				res, err := eng.Check(context.Background(), req(i))
				if err != nil {
					b.Error(err)
					return
				}
				if (res.Permissionship == engine.HasPermission) != qs[i%len(qs)].Expected {
					b.Errorf("%s: engine says %v", qs[i%len(qs)], res.Permissionship)
					return
				}
			}
		})
	}
	b.Run(fmt.Sprintf("uncached/size=%d", benchSize(b)), func(b *testing.B) {
		eng.PurgeCache()
		run(b, func(i int) int { return i })
	})
	b.Run(fmt.Sprintf("hot100/size=%d", benchSize(b)), func(b *testing.B) {
		run(b, func(i int) int { return i % 100 })
	})
	// One check at a time with the result cache off, on the chain organisations, so
	// each answer walks exactly level parent links: the latency of an uncached check
	// by depth, without the transport.
	uncached := engine.New(ix, engine.Config{CacheSize: -1})
	for _, level := range []int{2, 8, 16} {
		deep := m.DeepChecks(2, level, 5000)
		if deep == nil {
			continue
		}
		b.Run(fmt.Sprintf("uncached-depth=%d/size=%d", level, benchSize(b)), func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				q := deep[i%len(deep)]
				i++
				start := time.Now()
				res, err := uncached.Check(context.Background(), engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev,
					Resource: q.Resource, Permission: q.Permission, Subject: q.Subject,
					Context: map[string]any{"client_ip": q.ClientIP.String()}})
				times = append(times, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if (res.Permissionship == engine.HasPermission) != q.Expected {
					b.Fatalf("%s: engine says %v", q, res.Permissionship)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

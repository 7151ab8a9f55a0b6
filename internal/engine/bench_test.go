package engine

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore/index"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// benchSchema is a small B2B model: organisations in a tree, members directly or
// through nested groups, documents owned by organisations and visible to the members
// of the owner and of every ancestor.
const benchSchema = `
definition user {}

definition group {
	relation member: user | group#member
}

definition organization {
	relation parent: organization
	relation member: user | group#member
	relation admin: user
	permission view_docs = member + admin + parent->view_docs
}

definition document {
	relation owner: organization
	relation viewer: user | group#member
	relation blocked: user
	permission view = (viewer + owner->view_docs) - blocked
}
`

// benchData generates the dataset:
//
//   - an organisation tree of depth 8 (fan-out 2: 511 organisations), 20 documents per
//     organisation (10,220 documents), 3 direct members per organisation, and per
//     organisation a group tree nested 3 deep (g0 ∋ g1#member ∋ g2#member ∋ users)
//     that is a member of the organisation; 2 direct viewers per document;
//   - a chain of 17 organisations c0 ← c1 ← … ← c16 whose c0 has the same nested
//     groups, with one document owned by each c_k, for checks at exact depths.
//
// The user "root-member" is in the deepest group of the root organisation, so it sees
// every document of the tree; "chain-member" is in c0's deepest group.
func benchData() []string {
	var rels []string
	add := func(format string, args ...any) { rels = append(rels, fmt.Sprintf(format, args...)) }
	groups := func(org, user string) {
		add("organization:%s#member@group:%s-g0#member", org, org)
		add("group:%s-g0#member@group:%s-g1#member", org, org)
		add("group:%s-g1#member@group:%s-g2#member", org, org)
		add("group:%s-g2#member@user:%s", org, user)
		add("group:%s-g2#member@user:%s-gu", org, org)
	}
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		for m := range 3 {
			add("organization:%s#member@user:%s-m%d", id, id, m)
		}
		user := id + "-g"
		if id == "o" {
			user = "root-member"
		}
		groups(id, user)
		for d := range 20 {
			doc := fmt.Sprintf("%s-d%02d", id, d)
			add("document:%s#owner@organization:%s", doc, id)
			add("document:%s#viewer@user:%s-v%d", doc, doc, 0)
			add("document:%s#viewer@user:%s-v%d", doc, doc, 1)
		}
		if depth == 8 {
			return
		}
		for c := range 2 {
			child := fmt.Sprintf("%s%d", id, c)
			add("organization:%s#parent@organization:%s", child, id)
			walk(child, depth+1)
		}
	}
	walk("o", 0)
	groups("c0", "chain-member")
	for k := 0; k <= 16; k++ {
		if k > 0 {
			add("organization:c%d#parent@organization:c%d", k, k-1)
		}
		add("document:chain-%d#owner@organization:c%d", k, k)
	}
	return rels
}

func newBenchFixture(b *testing.B, cfg Config) *fixture {
	b.Helper()
	if cfg.ParallelReadLatency == 0 {
		cfg.ParallelReadLatency = DefaultParallelReadLatency
	}
	f := newFixtureConfig(b, cfg, benchSchema)
	rels := benchData()
	for start := 0; start < len(rels); start += 5000 {
		f.touch(rels[start:min(start+5000, len(rels))]...)
	}
	return f
}

// reportPercentiles times each operation and reports p50 and p99 besides ns/op, and
// the process CPU time per operation (cpu-ns/op: user+system, GC included), which
// stays meaningful on a machine busy with other work.
func reportPercentiles(b *testing.B, op func()) {
	b.Helper()
	times := make([]time.Duration, 0, b.N)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		op()
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	slices.Sort(times)
	if len(times) > 0 {
		b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(times)), "cpu-ns/op")
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchCheck(b *testing.B, f *fixture, doc, user string, want Permissionship) func() {
	req := CheckRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: doc}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: user}}
	r, err := f.e.Check(context.Background(), req)
	if err != nil || r.Permissionship != want {
		b.Fatalf("check %s@%s: %v %v", doc, user, r.Permissionship, err)
	}
	return func() {
		if _, err := f.e.Check(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckUncached measures checks with the result cache disabled, through
// chains of 1, 4, 8 and 16 organisations above the document's owner plus the three
// nested groups of the top organisation.
func BenchmarkCheckUncached(b *testing.B) {
	f := newBenchFixture(b, Config{CacheSize: -1})
	for _, depth := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			reportPercentiles(b, benchCheck(b, f, fmt.Sprintf("chain-%d", depth), "chain-member", HasPermission))
		})
	}
	fanned := &fixture{t: b, ds: f.ds, e: New(f.ds, Config{CacheSize: -1, ParallelReadLatency: -1, Now: f.clock.Now}), clock: f.clock, rev: f.rev}
	b.Run("always-fan-out-depth=8", func(b *testing.B) {
		reportPercentiles(b, benchCheck(b, fanned, "chain-8", "chain-member", HasPermission))
	})
	b.Run("tree-leaf-allowed", func(b *testing.B) {
		reportPercentiles(b, benchCheck(b, f, "o00000000-d07", "root-member", HasPermission))
	})
	b.Run("tree-leaf-denied", func(b *testing.B) {
		reportPercentiles(b, benchCheck(b, f, "o00000000-d07", "nobody", NoPermission))
	})
}

// BenchmarkCheckCached measures a repeated check answered from the result cache.
func BenchmarkCheckCached(b *testing.B) {
	f := newBenchFixture(b, Config{})
	for _, depth := range []int{1, 8, 16} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			reportPercentiles(b, benchCheck(b, f, fmt.Sprintf("chain-%d", depth), "chain-member", HasPermission))
		})
	}
	b.Run("parallel", func(b *testing.B) {
		req := CheckRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "chain-8"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "chain-member"}}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.e.Check(context.Background(), req); err != nil {
					b.Error(err)
				}
			}
		})
	})
}

// BenchmarkLookupResources10k lists every document the root organisation's member
// sees (all 10,220 of the tree), cold (no cache) and paged.
func BenchmarkLookupResources10k(b *testing.B) {
	f := newBenchFixture(b, Config{CacheSize: -1})
	req := LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, ResourceType: "document", Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "root-member"}}
	count := func(req LookupResourcesRequest) int {
		n := 0
		for _, err := range f.e.LookupResources(context.Background(), req) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := count(req); n != 511*20 {
		b.Fatalf("root member sees %d documents, want %d", n, 511*20)
	}
	b.Run("all", func(b *testing.B) {
		reportPercentiles(b, func() { count(req) })
	})
	b.Run("first-page-100", func(b *testing.B) {
		page := req
		page.Limit = 100
		reportPercentiles(b, func() { count(page) })
	})
}

// BenchmarkLookupSubjects lists the users who can view a document deep in the tree.
func BenchmarkLookupSubjects(b *testing.B) {
	f := newBenchFixture(b, Config{CacheSize: -1})
	req := LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "o00000000-d07"}, Permission: "view", SubjectType: "user"}
	reportPercentiles(b, func() {
		for _, err := range f.e.LookupSubjects(context.Background(), req) {
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkIndexed repeats the main measurements with the in-memory relationship
// index (internal/datastore/index) in front of the memory store, as a server runs.
func BenchmarkIndexed(b *testing.B) {
	f := newBenchFixture(b, Config{CacheSize: -1})
	idx := index.New(f.ds, index.Options{Now: f.clock.Now})
	b.Cleanup(func() { idx.Close() })
	if err := idx.Warm(context.Background(), tuple.DefaultTenant); err != nil {
		b.Fatal(err)
	}
	fi := &fixture{t: b, ds: f.ds, clock: f.clock, rev: f.rev,
		e: New(idx, Config{CacheSize: -1, ParallelReadLatency: DefaultParallelReadLatency, Now: f.clock.Now})}
	for _, depth := range []int{1, 8, 16} {
		b.Run(fmt.Sprintf("check-uncached-depth=%d", depth), func(b *testing.B) {
			reportPercentiles(b, benchCheck(b, fi, fmt.Sprintf("chain-%d", depth), "chain-member", HasPermission))
		})
	}
	b.Run("lookup-resources-10k", func(b *testing.B) {
		req := LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: fi.rev, ResourceType: "document", Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "root-member"}}
		reportPercentiles(b, func() {
			n := 0
			for _, err := range fi.e.LookupResources(context.Background(), req) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 511*20 {
				b.Fatalf("%d documents", n)
			}
		})
	})
}

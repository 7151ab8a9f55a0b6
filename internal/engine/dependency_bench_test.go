package engine

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkDependentGrantCheck measures one uncached check of project#view answered
// by a partner_viewer relationship of partnerSchema, over a memory store with 200
// partner employees: written by an administrator (no grantor: no conditions
// evaluated) and as a delegated grant (both conditions evaluated). It reports the
// median and 99th percentile latency.
func BenchmarkDependentGrantCheck(b *testing.B) {
	const users = 200
	for _, delegated := range []bool{false, true} {
		name := "admin-written"
		if delegated {
			name = "delegated"
		}
		b.Run(name, func(b *testing.B) {
			f := newFixtureConfig(b, Config{CacheSize: -1, MaxConcurrency: 1}, partnerSchema, partnerData...)
			var members, grants []string
			for i := range users {
				members = append(members, fmt.Sprintf("organization:partner#member@user:e%d", i))
				grants = append(grants, fmt.Sprintf("project:apollo#partner_viewer@user:e%d", i))
			}
			f.touch(members...)
			if delegated {
				f.grant("user:eve", "organization:partner", grants...)
			} else {
				f.touch(grants...)
			}
			times := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				req := f.req(fmt.Sprintf("project:apollo#view@user:e%d", i%users), "")
				i++
				start := time.Now()
				res, err := f.e.Check(context.Background(), req)
				times = append(times, time.Since(start))
				if err != nil || res.Permissionship != HasPermission {
					b.Fatalf("%v %v", res.Permissionship, err)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

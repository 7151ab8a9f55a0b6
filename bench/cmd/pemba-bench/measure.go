package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/bench/loadgen"
)

// measure runs every chosen workload at each concurrency level (the sweep at the
// highest only), in order, and records each result.
func (b *bench) measure(ctx context.Context) error {
	if err := b.prepareHealth(ctx); err != nil {
		return err
	}
	for _, wl := range b.wls {
		levels := b.concs
		if wl.Name == "sweep" {
			levels = []int{slices.Max(b.concs)}
		}
		for _, c := range levels {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			skipped, err := b.runLevel(ctx, wl, c)
			if err != nil {
				return err
			}
			if skipped {
				break
			}
		}
	}
	return nil
}

// prepareHealth readies the health request that --paired-health measures before
// each run.
func (b *bench) prepareHealth(ctx context.Context) error {
	if b.o.pairedHealth <= 0 {
		return nil
	}
	i := slices.IndexFunc(loadgen.Workloads(), func(w loadgen.Workload) bool { return w.Name == "health" })
	p, err := loadgen.Workloads()[i].Prepare(ctx, b.suite, 1)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	b.healthOp = p.Op
	return nil
}

// runLevel runs workload wl once at concurrency c: prepared and warmed, measured
// against its health baseline, profiled when asked. It reports skipped when the
// dataset cannot feed the workload, which then runs at no other level either.
func (b *bench) runLevel(ctx context.Context, wl loadgen.Workload, c int) (skipped bool, err error) {
	prep, err := wl.Prepare(ctx, b.suite, c)
	if errors.Is(err, loadgen.ErrSkip) {
		b.logf("%s c=%d: %v", wl.Name, c, err)
		b.rep.Results = append(b.rep.Results, loadgen.Result{Workload: wl.Name, Concurrency: c, Note: err.Error()})
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", wl.Name, err)
	}
	if prep.Warm != nil {
		if err := prep.Warm(ctx); err != nil {
			return false, fmt.Errorf("%s warm-up: %w", wl.Name, err)
		}
	}
	bounds := b.runBounds(wl, prep)
	baseline, paired, err := b.baseline(ctx, wl, c)
	if err != nil {
		return false, err
	}
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	profiling := b.prof != nil && !b.profiled[wl.Name] && slices.Contains(b.profWLs, wl.Name) && (c == b.o.profConc || wl.Name == "sweep")
	profDone := b.profileRun(pctx, wl, bounds, profiling)
	res, err := loadgen.Run(ctx, wl.Name, c, bounds, prep.Op)
	cutShort := res.Seconds+1 < bounds.Duration.Seconds()
	if cutShort {
		// A run bounded by its count ended early; the profiler's answer would
		// mostly cover idle time after it, and waiting for it wastes the rest of
		// the duration.
		pcancel()
	}
	if err != nil {
		return false, err
	}
	res.Pool, res.Note = prep.Pool, prep.Note
	b.compareToHealth(&res, wl, c, baseline, paired)
	if profiling {
		b.keepProfiles(ctx, &res, wl, profDone, cutShort)
	}
	pcancel()
	b.rep.Results = append(b.rep.Results, res)
	b.logf("%-24s c=%-3d %8.0f qps  p50 %7.3fms  p99 %7.3fms  errors %d  mismatches %d", wl.Name, c, res.QPS, res.P50, res.P99, res.Errors, res.Mismatches)
	if wl.Name == "sweep" && b.rep.Memory != nil {
		rss, err := loadgen.ResidentMemory(b.o.serverPID)
		if err != nil {
			return false, err
		}
		b.rep.Memory.AfterSweepBytes = rss
		b.rep.Memory.BytesPerRelationship = float64(rss) / float64(b.relCount)
	}
	return false, nil
}

// runBounds narrows the run's bounds to one pass over the workload's questions
// where it has a count, and gives the sweep its own duration.
func (b *bench) runBounds(wl loadgen.Workload, prep *loadgen.Prepared) loadgen.Bounds {
	bounds := b.bounds
	if prep.Count > 0 && (bounds.Count == 0 || prep.Count < bounds.Count) {
		bounds.Count = prep.Count
	}
	if wl.Name == "sweep" {
		bounds.Duration = b.o.sweepDuration
	}
	return bounds
}

// baseline returns the health throughput the run's ratio is taken against: the
// health workload's run at the same concurrency, or with --paired-health a health
// run measured just before (paired is then true).
func (b *bench) baseline(ctx context.Context, wl loadgen.Workload, c int) (qps float64, paired bool, err error) {
	paired = b.o.pairedHealth > 0 && wl.Name != "health" && wl.Name != "sweep"
	if !paired {
		return b.health[c], false, nil
	}
	hb := loadgen.Bounds{Duration: b.o.pairedHealth, RequestTimeout: b.o.reqTO}
	hres, err := loadgen.Run(ctx, "health", c, hb, b.healthOp)
	if err != nil {
		return 0, false, fmt.Errorf("paired health run before %s: %w", wl.Name, err)
	}
	return hres.QPS, true, nil
}

// compareToHealth records a health run's throughput as the baseline of the runs at
// its concurrency, and gives every other run its ratio against its baseline.
func (b *bench) compareToHealth(res *loadgen.Result, wl loadgen.Workload, c int, baseline float64, paired bool) {
	if wl.Name == "health" {
		b.health[c] = res.QPS
		return
	}
	if baseline <= 0 {
		return
	}
	res.HealthQPS, res.Ratio = baseline, res.QPS/baseline
	if paired {
		res.Note = strings.TrimPrefix(res.Note+fmt.Sprintf("; ratio against a health run of %s just before", b.o.pairedHealth), "; ")
	}
}

// profileRun starts the CPU profile of a profiled run for the run's duration. The
// channel yields the profiler's answer (nil at once when no CPU profile is taken).
func (b *bench) profileRun(ctx context.Context, wl loadgen.Workload, bounds loadgen.Bounds, profiling bool) <-chan error {
	done := make(chan error, 1)
	if profiling && b.o.cpuProfile != "" {
		path := profPath(b.o.cpuProfile, wl.Name, b.profWLs)
		go func() { done <- b.prof.CPU(ctx, bounds.Duration, path) }()
	} else {
		done <- nil
	}
	return done
}

// keepProfiles waits for a profiled run's CPU profile and takes the heap profile
// after it, listing the files kept in the report. A run that ended before its CPU
// profile's duration keeps no CPU profile, and its note says so.
func (b *bench) keepProfiles(ctx context.Context, res *loadgen.Result, wl loadgen.Workload, profDone <-chan error, cutShort bool) {
	b.profiled[wl.Name] = true
	if err := <-profDone; cutShort && b.o.cpuProfile != "" {
		res.Note = strings.TrimPrefix(res.Note+"; the run ended before its CPU profile's duration, so the profile was not kept", "; ")
	} else if err != nil {
		b.fail("cpu profile: %v", err)
	} else if b.o.cpuProfile != "" {
		b.rep.Profiles = append(b.rep.Profiles, profPath(b.o.cpuProfile, wl.Name, b.profWLs))
	}
	if b.o.heapProf != "" {
		heapPath := profPath(b.o.heapProf, wl.Name, b.profWLs)
		if err := b.prof.Heap(ctx, heapPath); err != nil {
			b.fail("heap profile: %v", err)
		} else {
			b.rep.Profiles = append(b.rep.Profiles, heapPath)
		}
	}
}

// profPath is the profile file of a workload: path itself when one workload is
// profiled, path-<workload> (before the extension) when several are.
func profPath(path, workload string, workloads []string) string {
	if path == "" || len(workloads) < 2 {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + workload + ext
}

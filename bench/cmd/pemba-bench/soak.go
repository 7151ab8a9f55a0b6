package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pemba-authz/pemba/bench/loadgen"
)

// soakMemoryBound is how far (a fraction of their median) the server's resident
// memory samples after the warm-up may stray in a soak that passes.
const soakMemoryBound = 0.10

// minSoakWarmup is the shortest default warm-up of the flat-memory verdict.
const minSoakWarmup = 2 * time.Minute

// check refuses soak flags that would not bound the soak or could not measure it.
func (s *soakOptions) check(serverPID int, allowRemote bool) error {
	if s.duration == 0 {
		return nil
	}
	if s.duration < time.Second || s.duration > loadgen.MaxPacedDuration {
		return fmt.Errorf("--soak %s: must be from 1s to %s", s.duration, loadgen.MaxPacedDuration)
	}
	if serverPID <= 0 {
		return fmt.Errorf("--soak needs --server-pid: the soak samples the server's resident memory")
	}
	if s.rate < 0 {
		return fmt.Errorf("--soak-rate %v: must not be negative", s.rate)
	}
	if s.rate == 0 && (s.peakDuration < time.Second || s.peakDuration > loadgen.MaxRunDuration) {
		return fmt.Errorf("--soak-peak-duration %s: must be from 1s to %s", s.peakDuration, loadgen.MaxRunDuration)
	}
	if s.fraction <= 0 || s.fraction > 1 {
		return fmt.Errorf("--soak-fraction %v: must be above 0 and at most 1", s.fraction)
	}
	if s.sample < 100*time.Millisecond || s.sample > s.duration {
		return fmt.Errorf("--soak-sample %s: must be from 100ms to the soak's duration %s", s.sample, s.duration)
	}
	if s.warmup < 0 || s.warmup >= s.duration {
		return fmt.Errorf("--soak-warmup %s: must be from 0 to less than the soak's duration %s", s.warmup, s.duration)
	}
	if s.warmup == 0 {
		s.warmup = max(s.duration/10, minSoakWarmup)
	}
	if s.metricsAddr != "" {
		return loadgen.CheckTarget("--metrics-addr", s.metricsAddr, allowRemote)
	}
	return nil
}

// soak runs the soak: the mix's peak measured unpaced (unless --soak-rate gives the
// pace), then the mix paced at a fraction of it for --soak while the server's memory
// is sampled. Every failure lands in the report, which makes the command exit 3.
func (b *bench) soak(ctx context.Context) error {
	so := b.o.soak
	conc := slices.Max(b.concs)
	res := &loadgen.SoakResult{Concurrency: conc, Rate: so.rate, SampleSeconds: so.sample.Seconds()}
	b.rep.Soak = res
	b.rep.Settings["soak"] = so.duration.String()
	if res.Rate == 0 {
		prep, err := b.suite.PrepareSoak(conc, &loadgen.Tally{})
		if err != nil {
			return fmt.Errorf("soak_peak: %w", err)
		}
		peak, err := b.soakRun(ctx, "soak_peak", conc, loadgen.Bounds{Duration: so.peakDuration, RequestTimeout: b.o.reqTO}, prep)
		if err != nil {
			return err
		}
		if peak.QPS <= 0 {
			return fmt.Errorf("soak: the peak run answered no request")
		}
		res.PeakQPS, res.PeakFraction = peak.QPS, so.fraction
		res.Rate = peak.QPS * so.fraction
	}
	b.logf("soak: %s at %.0f requests/s, concurrency %d, memory sampled every %s", so.duration, res.Rate, conc, so.sample)

	tally := &loadgen.Tally{}
	// Prepared before the sampler starts, so that the samples' clock is the run's.
	prep, err := b.suite.PrepareSoak(conc, tally)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	sampler := &loadgen.MemorySampler{PID: b.o.serverPID, MetricsAddr: so.metricsAddr, Every: so.sample, Tally: tally}
	sctx, stopSampling := context.WithCancel(ctx)
	type sampled struct {
		samples []loadgen.MemorySample
		err     error
	}
	done := make(chan sampled, 1)
	go func() {
		s, err := sampler.Run(sctx, int(so.duration/so.sample)+3)
		done <- sampled{s, err}
	}()
	run, err := b.soakRun(ctx, "soak", conc, loadgen.Bounds{Duration: so.duration, RequestTimeout: b.o.reqTO, Rate: res.Rate}, prep)
	stopSampling()
	got := <-done
	if err != nil {
		return err
	}
	res.Samples = got.samples
	if got.err != nil {
		b.fail("soak: sampling the server's memory: %v", got.err)
	}
	b.judgeSoak(res, run, tally)
	return nil
}

// soakRun runs the prepared soak mix within bounds and records its result.
func (b *bench) soakRun(ctx context.Context, name string, conc int, bounds loadgen.Bounds, prep *loadgen.Prepared) (loadgen.Result, error) {
	r, err := loadgen.Run(ctx, name, conc, bounds, prep.Op)
	if err != nil {
		return loadgen.Result{}, err
	}
	r.Pool, r.Note = prep.Pool, prep.Note
	if bounds.Rate > 0 {
		r.Note += fmt.Sprintf("; paced at %.0f requests/s", bounds.Rate)
	}
	b.rep.Results = append(b.rep.Results, r)
	b.logf("%-24s c=%-3d %8.0f qps  p50 %7.3fms  p99 %7.3fms  errors %d  mismatches %d", name, conc, r.QPS, r.P50, r.P99, r.Errors, r.Mismatches)
	return r, nil
}

// judgeSoak fills the soak's totals and verdicts from its run and samples, and
// records each failure: any error, any mismatch, memory that did not stay flat.
func (b *bench) judgeSoak(res *loadgen.SoakResult, run loadgen.Result, tally *loadgen.Tally) {
	res.Seconds, res.AchievedQPS = run.Seconds, float64(run.Requests)/run.Seconds
	res.Requests, res.Errors, res.Mismatches = run.Requests, run.Errors, run.Mismatches
	res.Checks, res.Writes, res.Lookups = tally.Checks.Load(), tally.Writes.Load(), tally.Lookups.Load()
	res.Memory = loadgen.JudgeMemory(res.Samples, b.o.soak.warmup, soakMemoryBound)
	var errs, wrong uint64
	for _, r := range b.rep.Results {
		errs, wrong = errs+r.Errors, wrong+r.Mismatches
	}
	if errs > 0 {
		b.fail("soak: %d requests failed", errs)
	}
	if res.Memory.Judged && !res.Memory.Pass {
		b.fail("soak: resident memory drifted %.2f%% from its median after the warm-up (bound %.0f%%)", res.Memory.DriftPct, 100*soakMemoryBound)
	}
	// Mismatches are failed by finish, with those of every run.
	res.Pass = len(b.rep.Failures) == 0 && wrong == 0 && res.Requests > 0
}

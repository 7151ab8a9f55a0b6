package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is what one request of a workload did.
type Outcome struct {
	// Items counts the units of work inside the request: checks of a bulk request,
	// resources of a lookup. Zero means one.
	Items int
	// Mismatch describes an answer that differs from the oracle's; empty when every
	// answer was as expected.
	Mismatch string
	// Mismatches counts wrong answers inside the request (a bulk request may hold
	// several); zero with a non-empty Mismatch means one.
	Mismatches int
	// Err is a failed request.
	Err error
}

// Op performs request i (0, 1, 2, ...) of a run on behalf of worker w.
type Op func(ctx context.Context, w int, i int64) Outcome

// Bounds limit one run. A run stops when Duration has passed or Count requests were
// started, whichever comes first; requests in flight then finish.
type Bounds struct {
	Duration time.Duration
	// Count is the most requests to start; 0 means no count bound.
	Count int64
	// RequestTimeout bounds one request.
	RequestTimeout time.Duration
	// Rate, when positive, paces the run: request i starts no earlier than i/Rate
	// seconds after the run's start (see pacer). A paced run (a soak) may last up
	// to MaxPacedDuration.
	Rate float64
}

// MaxRunDuration is the longest a single unpaced run may last.
const MaxRunDuration = 30 * time.Minute

// MaxPacedDuration is the longest a paced run may last.
const MaxPacedDuration = 12 * time.Hour

// Validate reports bounds that would not end a run.
func (b Bounds) Validate() error {
	if b.Rate < 0 {
		return fmt.Errorf("request rate %v is negative", b.Rate)
	}
	longest := MaxRunDuration
	if b.Rate > 0 {
		longest = MaxPacedDuration
	}
	if b.Duration <= 0 || b.Duration > longest {
		return fmt.Errorf("run duration %s must be positive and at most %s", b.Duration, longest)
	}
	if b.Count < 0 {
		return fmt.Errorf("request count %d is negative", b.Count)
	}
	if b.RequestTimeout <= 0 {
		return fmt.Errorf("request timeout %s must be positive", b.RequestTimeout)
	}
	return nil
}

// maxExamples is how many error and mismatch descriptions a result keeps.
const maxExamples = 5

// worker is one goroutine's private tally, merged at the end of a run.
type worker struct {
	hist       Histogram
	requests   uint64
	items      uint64
	errors     uint64
	mismatches uint64
	errs       []string
	wrong      []string
}

// Run runs op with conc workers within bounds and returns the measured result.
func Run(ctx context.Context, name string, conc int, b Bounds, op Op) (Result, error) {
	if conc < 1 {
		return Result{}, fmt.Errorf("concurrency %d must be at least 1", conc)
	}
	if err := b.Validate(); err != nil {
		return Result{}, err
	}
	workers := make([]worker, conc)
	var next atomic.Int64
	start := time.Now()
	deadline := start.Add(b.Duration)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &workers[w]
			pace := newPacer(start, deadline, b.Rate)
			defer pace.stop()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if b.Count > 0 && i >= b.Count || !pace.wait(ctx, i) {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, b.RequestTimeout)
				t0 := time.Now()
				o := op(rctx, w, i)
				lat := time.Since(t0)
				cancel()
				st.requests++
				if o.Err != nil {
					st.errors++
					if len(st.errs) < maxExamples {
						st.errs = append(st.errs, o.Err.Error())
					}
					continue
				}
				st.hist.Record(lat)
				st.items += uint64(max(o.Items, 1))
				if o.Mismatch != "" {
					st.mismatches += uint64(max(o.Mismatches, 1))
					if len(st.wrong) < maxExamples {
						st.wrong = append(st.wrong, o.Mismatch)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("%s stopped: %w", name, err)
	}
	var h Histogram
	r := Result{Workload: name, Concurrency: conc, Seconds: elapsed.Seconds()}
	for i := range workers {
		st := &workers[i]
		h.Merge(&st.hist)
		r.Requests += st.requests
		r.Items += st.items
		r.Errors += st.errors
		r.Mismatches += st.mismatches
		for _, e := range st.errs {
			if len(r.ErrorExamples) < maxExamples {
				r.ErrorExamples = append(r.ErrorExamples, e)
			}
		}
		for _, m := range st.wrong {
			if len(r.MismatchExamples) < maxExamples {
				r.MismatchExamples = append(r.MismatchExamples, m)
			}
		}
	}
	ok := float64(h.Count())
	r.QPS = ok / elapsed.Seconds()
	r.ItemsPerSecond = float64(r.Items) / elapsed.Seconds()
	r.P50 = ms(h.Quantile(0.50))
	r.P95 = ms(h.Quantile(0.95))
	r.P99 = ms(h.Quantile(0.99))
	r.Max = ms(h.Max())
	r.Mean = ms(h.Mean())
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pacer holds one worker to a paced run's schedule: request i is due at start +
// i/rate. A worker that is late (its previous answer was slow) starts its next
// request at once, so the rate holds while answers are slow, as far as the workers
// can carry it; requests never start ahead of their time.
type pacer struct {
	start, deadline time.Time
	rate            float64
	timer           *time.Timer
}

// newPacer returns the pacer of one worker; with rate 0 it never waits.
func newPacer(start, deadline time.Time, rate float64) *pacer {
	return &pacer{start: start, deadline: deadline, rate: rate}
}

// wait waits until request i is due and reports whether it may start: false when it
// is due after the deadline or ctx ended first.
func (p *pacer) wait(ctx context.Context, i int64) bool {
	if p.rate <= 0 {
		return true
	}
	due := p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
	if !due.Before(p.deadline) {
		return false
	}
	d := time.Until(due)
	if d <= 0 {
		return true
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stop releases the pacer's timer.
func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

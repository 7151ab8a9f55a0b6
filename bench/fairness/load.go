package fairness

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Result is what a steady load measured.
type Result struct {
	// Latencies are those of the calls that succeeded, sorted.
	Latencies []time.Duration
	// Codes counts the calls by status code.
	Codes map[codes.Code]int64
	// Elapsed is how long the load ran.
	Elapsed time.Duration
}

// Percentile returns the p-quantile (0 < p < 1) of the latencies, 0 without any.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[min(len(r.Latencies)-1, int(p*float64(len(r.Latencies))))]
}

// Rate is the calls per second with the given code.
func (r Result) Rate(c codes.Code) float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Codes[c]) / r.Elapsed.Seconds()
}

// callTimeout bounds one call.
const callTimeout = 10 * time.Second

// Steady calls call rate times a second, spread over workers goroutines that each
// keep their own schedule (a late call is followed by the next at once, so the rate
// holds while answers are slow), until ctx ends. Calls in flight then finish: each
// gets a context of its own, bounded by callTimeout, so the end of the load does not
// count as their failure.
func Steady(ctx context.Context, rate float64, workers int, call func(context.Context) error) Result {
	interval := time.Duration(float64(workers) * float64(time.Second) / rate)
	var (
		mu  sync.Mutex
		res = Result{Codes: map[codes.Code]int64{}}
		wg  sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			next := start.Add(time.Duration(w) * interval / time.Duration(workers))
			timer := time.NewTimer(0)
			defer timer.Stop()
			for {
				if d := time.Until(next); d > 0 {
					timer.Reset(d)
					select {
					case <-ctx.Done():
						return
					case <-timer.C:
					}
				}
				if ctx.Err() != nil {
					return
				}
				callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
				began := time.Now()
				err := call(callCtx)
				took := time.Since(began)
				cancel()
				code := status.Code(err)
				mu.Lock()
				res.Codes[code]++
				if code == codes.OK {
					res.Latencies = append(res.Latencies, took)
				}
				mu.Unlock()
				next = next.Add(interval)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(res.Latencies)
	return res
}

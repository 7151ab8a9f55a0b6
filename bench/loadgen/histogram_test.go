package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantilesWithinOnePointSixPercent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var vals []time.Duration
	for range 100_000 {
		// Log-uniform from 1µs to 1s, like request latencies.
		v := time.Duration(float64(int64(1000)<<r.IntN(20)) * (1 + r.Float64()))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 1.0/64 || diff < -1.0/64 {
			t.Errorf("q%.3f: got %v, want %v (%.2f%% off)", q, got, want, 100*diff)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
		t.Errorf("max %v min %v, want %v %v", h.Max(), h.Min(), vals[len(vals)-1], vals[0])
	}
	if h.Count() != uint64(len(vals)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestHistogramMergeAndEdges(t *testing.T) {
	var a, b, empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram reports values")
	}
	for i := range 63 {
		a.Record(time.Duration(i)) // exact small values
	}
	b.Record(-5) // clamped to zero
	b.Record(10 * time.Second)
	a.Merge(&b)
	a.Merge(&empty)
	if a.Count() != 65 || a.Min() != 0 || a.Max() != 10*time.Second {
		t.Fatalf("count %d min %v max %v", a.Count(), a.Min(), a.Max())
	}
	if got := a.Quantile(0.5); got != 31 {
		t.Errorf("median of 0..62 plus two is %v, want 31ns", got)
	}
	if got := a.Quantile(1); got != 10*time.Second {
		t.Errorf("q1 = %v", got)
	}
	// Every value maps into a bucket whose bounds contain it.
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 40, 1<<62 + 12345} {
		e, s := bucket(v)
		if lo := lowerBound(e, s); v < lo || v >= lo+width(e) {
			t.Errorf("value %d in bucket [%d, %d)", v, lo, lo+width(e))
		}
	}
}

package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in bounded memory with a relative error below 1/64
// (about 1.6%): values are grouped by their power of two and, inside it, into 64
// equal sub-buckets, which is the scheme of HDR histograms. It covers 1ns to about
// 292 years in 64 × 64 counters (32 KiB). The zero value is ready to use; it is not
// safe for concurrent use (give each worker its own and Merge them).
type Histogram struct {
	counts [64][subBuckets]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
)

// bucket returns the power-of-two bucket and sub-bucket of v (v >= 0).
func bucket(v int64) (int, int) {
	u := uint64(v)
	if u < subBuckets {
		return 0, int(u)
	}
	exp := bits.Len64(u) - subBits // >= 1
	return exp, int(u>>uint(exp-1)) - subBuckets
}

// lowerBound is the smallest value of a bucket; the bucket spans 2^(exp-1) values.
func lowerBound(exp, sb int) int64 {
	if exp == 0 {
		return int64(sb)
	}
	return int64(uint64(sb+subBuckets) << uint(exp-1))
}

func width(exp int) int64 {
	if exp == 0 {
		return 1
	}
	return int64(1) << uint(exp-1)
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	exp, sb := bucket(v)
	h.counts[exp][sb]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for e := range h.counts {
		for s := range h.counts[e] {
			h.counts[e][s] += o.counts[e][s]
		}
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest recorded value, exactly.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean is the arithmetic mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value below which a fraction q (0..1) of the recorded values
// fall: the midpoint of the bucket holding the ceil(q*n)-th value, clamped to the
// exact minimum and maximum (q = 1 is the exact maximum).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for e := range h.counts {
		for s, c := range h.counts[e] {
			if c == 0 {
				continue
			}
			seen += c
			if seen >= rank {
				v := lowerBound(e, s) + width(e)/2
				return time.Duration(min(max(v, h.min), h.max))
			}
		}
	}
	return time.Duration(h.max)
}

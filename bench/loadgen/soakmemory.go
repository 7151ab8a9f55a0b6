package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MemorySample is one reading of the server during a soak: its resident memory, its
// Go heap in use (when its metrics are read) and the soak's totals so far.
type MemorySample struct {
	Seconds        float64 `json:"t_seconds"`
	RSSBytes       uint64  `json:"rss_bytes"`
	HeapInuseBytes uint64  `json:"heap_inuse_bytes,omitempty"`
	Requests       uint64  `json:"requests"`
	Errors         uint64  `json:"errors"`
	Mismatches     uint64  `json:"mismatches"`
}

// MemorySampler reads the server's memory every Every until its context ends.
type MemorySampler struct {
	// PID is the server's process id; VmRSS is read from /proc/<PID>/status.
	PID int
	// MetricsAddr, when set, is the server's HTTP address (loopback), whose
	// /metrics gives go_memstats_heap_inuse_bytes.
	MetricsAddr string
	Every       time.Duration
	// Timeout bounds one /metrics read (default 5s). A read that fails is tried
	// twice more, a second apart, before the sampler gives up: one slow answer on a
	// loaded machine is no reason to end a soak.
	Timeout time.Duration
	// Tally, when set, is the run whose totals each sample records.
	Tally *Tally

	client http.Client
}

// heapMetric is the Prometheus Go collector's gauge of heap bytes in use.
const heapMetric = "go_memstats_heap_inuse_bytes"

// Run takes a sample at once, then one every Every, then a last one when ctx ends;
// it stops early after limit samples. A failed reading ends it with the samples
// taken so far and the error.
func (m *MemorySampler) Run(ctx context.Context, limit int) ([]MemorySample, error) {
	if m.Every <= 0 || limit < 2 {
		return nil, fmt.Errorf("memory sampler: interval %s and limit %d must be positive and at least 2", m.Every, limit)
	}
	m.client.Timeout = m.Timeout
	if m.client.Timeout <= 0 {
		m.client.Timeout = 5 * time.Second
	}
	start := time.Now()
	var out []MemorySample
	t := time.NewTicker(m.Every)
	defer t.Stop()
	// The sample after ctx ends is taken after the run's last request, whenever
	// the one before it was.
	for stopped := false; len(out) < limit; {
		s, err := m.sample(time.Since(start))
		if err != nil {
			return out, err
		}
		out = append(out, s)
		if stopped {
			break
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			stopped = true
		}
	}
	return out, nil
}

// sample takes one reading at elapsed time at.
func (m *MemorySampler) sample(at time.Duration) (MemorySample, error) {
	s := MemorySample{Seconds: math.Round(at.Seconds()*10) / 10}
	if m.Tally != nil {
		s.Requests, s.Errors, s.Mismatches = m.Tally.Requests.Load(), m.Tally.Errors.Load(), m.Tally.Mismatches.Load()
	}
	var err error
	if s.RSSBytes, err = ResidentMemory(m.PID); err != nil {
		return s, err
	}
	if m.MetricsAddr != "" {
		for attempt := 1; ; attempt++ {
			if s.HeapInuseBytes, err = m.heapInuse(); err == nil || attempt == 3 {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			return s, fmt.Errorf("%w (3 attempts)", err)
		}
	}
	return s, nil
}

// heapInuse reads the server's heap in use from its /metrics.
func (m *MemorySampler) heapInuse() (uint64, error) {
	url := "http://" + m.MetricsAddr + "/metrics"
	resp, err := m.client.Get(url)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("reading %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), heapMetric+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("%s: unexpected line %q", url, sc.Text())
			}
			return uint64(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", url, err)
	}
	return 0, fmt.Errorf("%s has no %s", url, heapMetric)
}

// MinJudgedSamples is the fewest samples after the warm-up a memory verdict is
// given on; a shorter run is reported as not judged.
const MinJudgedSamples = 3

// MemoryVerdict says whether the server's resident memory stayed flat through a soak.
// The rule: the samples taken after the warm-up must each lie within Bound (a
// fraction, 0.10) of their median. Byte counts describe those samples.
type MemoryVerdict struct {
	Rule          string  `json:"rule"`
	WarmupSeconds float64 `json:"warmup_seconds"`
	Bound         float64 `json:"bound_fraction"`
	// Judged is false when fewer than MinJudgedSamples samples follow the warm-up.
	Judged      bool   `json:"judged"`
	Pass        bool   `json:"pass"`
	Samples     int    `json:"samples_after_warmup"`
	FirstBytes  uint64 `json:"rss_first_bytes,omitempty"`
	LastBytes   uint64 `json:"rss_last_bytes,omitempty"`
	MinBytes    uint64 `json:"rss_min_bytes,omitempty"`
	MaxBytes    uint64 `json:"rss_max_bytes,omitempty"`
	MedianBytes uint64 `json:"rss_median_bytes,omitempty"`
	// DriftPct is the largest distance of a sample from the median, in percent of
	// the median; GrowthPct is the last sample against the first, in percent.
	DriftPct       float64 `json:"drift_pct"`
	GrowthPct      float64 `json:"growth_first_to_last_pct"`
	HeapFirstBytes uint64  `json:"heap_inuse_first_bytes,omitempty"`
	HeapLastBytes  uint64  `json:"heap_inuse_last_bytes,omitempty"`
	HeapMaxBytes   uint64  `json:"heap_inuse_max_bytes,omitempty"`
}

// JudgeMemory applies the flat-memory rule to the samples of a soak: those taken at
// or after warmup must each lie within bound of their median.
func JudgeMemory(samples []MemorySample, warmup time.Duration, bound float64) MemoryVerdict {
	v := MemoryVerdict{
		Rule:          fmt.Sprintf("every RSS sample taken after the warm-up lies within %.0f%% of the median of those samples", 100*bound),
		WarmupSeconds: warmup.Seconds(), Bound: bound,
	}
	var after []MemorySample
	for _, s := range samples {
		if s.Seconds >= warmup.Seconds() {
			after = append(after, s)
		}
	}
	v.Samples = len(after)
	if len(after) == 0 {
		return v
	}
	rss := make([]uint64, len(after))
	for i, s := range after {
		rss[i] = s.RSSBytes
		v.HeapMaxBytes = max(v.HeapMaxBytes, s.HeapInuseBytes)
	}
	v.FirstBytes, v.LastBytes = rss[0], rss[len(rss)-1]
	v.HeapFirstBytes, v.HeapLastBytes = after[0].HeapInuseBytes, after[len(after)-1].HeapInuseBytes
	v.MinBytes, v.MaxBytes = slices.Min(rss), slices.Max(rss)
	v.MedianBytes = median(rss)
	if v.MedianBytes > 0 {
		med := float64(v.MedianBytes)
		v.DriftPct = round2(100 * max(float64(v.MaxBytes)-med, med-float64(v.MinBytes)) / med)
	}
	if v.FirstBytes > 0 {
		v.GrowthPct = round2(100 * (float64(v.LastBytes) - float64(v.FirstBytes)) / float64(v.FirstBytes))
	}
	v.Judged = len(after) >= MinJudgedSamples
	v.Pass = v.Judged && v.DriftPct <= 100*bound
	return v
}

// median returns the median of xs (the mean of the middle two for an even count).
func median(xs []uint64) uint64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1]/2 + s[n/2]/2 + (s[n/2-1]%2+s[n/2]%2)/2
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

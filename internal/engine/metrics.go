package engine

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is a snapshot of the engine's counters since it was created.
type Metrics struct {
	// Requests counts top-level evaluations: checks (each CheckBulk entry and each
	// Permissions entry counts), expands and lookups.
	Requests uint64
	// Dispatches counts sub-problems evaluated, cached or not.
	Dispatches uint64
	// CacheHits and CacheMisses count shared-cache lookups of sub-problems.
	CacheHits, CacheMisses uint64
	// SharedFlights counts sub-problems answered by an identical evaluation already in
	// flight (singleflight).
	SharedFlights uint64
	// CycleCuts counts evaluations cut because they came back to a node on their own
	// path.
	CycleCuts uint64
	// DepthErrors counts requests that failed on the depth limit.
	DepthErrors uint64
	// DispatchesPerRequest and DepthPerRequest are histograms: counts of requests per
	// bucket, with upper bounds in MetricBuckets.
	DispatchesPerRequest [len(MetricBuckets) + 1]uint64
	DepthPerRequest      [len(MetricBuckets) + 1]uint64
}

// MetricBuckets are the upper bounds of the per-request histograms; the last bucket
// counts everything above the last bound.
var MetricBuckets = [...]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096}

type histogram struct {
	buckets [len(MetricBuckets) + 1]atomic.Uint64
	sum     atomic.Uint64
}

func (h *histogram) observe(v int) {
	i := 0
	for i < len(MetricBuckets) && float64(v) > MetricBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(uint64(v))
}

type metrics struct {
	requests, dispatches, hits, misses, shared, cuts, depthErrors atomic.Uint64
	dispatchHist, depthHist                                       histogram
}

// Metrics returns the engine's counters.
func (e *Engine) Metrics() Metrics {
	m := &e.metrics
	out := Metrics{
		Requests: m.requests.Load(), Dispatches: m.dispatches.Load(),
		CacheHits: m.hits.Load(), CacheMisses: m.misses.Load(),
		SharedFlights: m.shared.Load(), CycleCuts: m.cuts.Load(), DepthErrors: m.depthErrors.Load(),
	}
	for i := range out.DispatchesPerRequest {
		out.DispatchesPerRequest[i] = m.dispatchHist.buckets[i].Load()
		out.DepthPerRequest[i] = m.depthHist.buckets[i].Load()
	}
	return out
}

// Collector returns a Prometheus collector for the engine's metrics (pemba_engine_*).
// Register it once; it reads the counters when scraped.
func (e *Engine) Collector() prometheus.Collector { return &collector{e: e} }

type collector struct{ e *Engine }

var (
	descRequests   = prometheus.NewDesc("pemba_engine_requests_total", "Top-level evaluations (checks, expands, lookups).", nil, nil)
	descDispatches = prometheus.NewDesc("pemba_engine_dispatches_total", "Sub-problems evaluated, cached or not.", nil, nil)
	descCache      = prometheus.NewDesc("pemba_engine_cache_lookups_total", "Result cache lookups by outcome.", []string{"result"}, nil)
	descShared     = prometheus.NewDesc("pemba_engine_singleflight_shared_total", "Sub-problems answered by an identical evaluation in flight.", nil, nil)
	descCuts       = prometheus.NewDesc("pemba_engine_cycle_cuts_total", "Evaluations cut because they returned to a node on their own path.", nil, nil)
	descDepthErr   = prometheus.NewDesc("pemba_engine_depth_exceeded_total", "Requests that failed on the depth limit.", nil, nil)
	descDispHist   = prometheus.NewDesc("pemba_engine_dispatches_per_request", "Sub-problems evaluated per request.", nil, nil)
	descDepthHist  = prometheus.NewDesc("pemba_engine_depth_per_request", "Deepest level reached per request.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDispatches, descCache, descShared, descCuts, descDepthErr, descDispHist, descDepthHist} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := &c.e.metrics
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descRequests, m.requests.Load())
	counter(descDispatches, m.dispatches.Load())
	counter(descCache, m.hits.Load(), "hit")
	counter(descCache, m.misses.Load(), "miss")
	counter(descShared, m.shared.Load())
	counter(descCuts, m.cuts.Load())
	counter(descDepthErr, m.depthErrors.Load())
	hist := func(d *prometheus.Desc, h *histogram) {
		buckets := map[float64]uint64{}
		var cum uint64
		for i, ub := range MetricBuckets {
			cum += h.buckets[i].Load()
			buckets[ub] = cum
		}
		total := cum + h.buckets[len(MetricBuckets)].Load()
		ch <- prometheus.MustNewConstHistogram(d, total, float64(h.sum.Load()), buckets)
	}
	hist(descDispHist, &m.dispatchHist)
	hist(descDepthHist, &m.depthHist)
}

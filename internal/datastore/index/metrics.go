package index

import "github.com/prometheus/client_golang/prometheus"

var (
	servedDesc   = prometheus.NewDesc("pemba_index_queries_served_total", "Relationship queries answered from the in-memory index.", nil, nil)
	fallbackDesc = prometheus.NewDesc("pemba_index_queries_fallback_total", "Relationship queries sent to the backing store because the index could not answer them.", nil, nil)
	liveDesc     = prometheus.NewDesc("pemba_index_relationships", "Relationship versions held by the index, by state.", []string{"tenant", "state"}, nil)
	appliedDesc  = prometheus.NewDesc("pemba_index_applied_revision", "Newest revision the index has applied.", []string{"tenant"}, nil)
	readyDesc    = prometheus.NewDesc("pemba_index_ready", "1 when the tenant's index is built and following the store.", []string{"tenant"}, nil)
)

// Collector returns a Prometheus collector of the index's counters.
func (s *Store) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Store }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{servedDesc, fallbackDesc, liveDesc, appliedDesc, readyDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(servedDesc, prometheus.CounterValue, float64(st.Served))
	ch <- prometheus.MustNewConstMetric(fallbackDesc, prometheus.CounterValue, float64(st.Fallbacks))
	for name, t := range st.Tenants {
		ready := 0.0
		if t.Ready {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready, name)
		ch <- prometheus.MustNewConstMetric(appliedDesc, prometheus.GaugeValue, float64(t.Applied), name)
		ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, float64(t.Live), name, "live")
		ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, float64(t.Dead), name, "superseded")
	}
}

package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pemba-authz/pemba/internal/version"
)

// metrics are the server's Prometheus metrics, per RPC and status code.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	// quotaRefusals counts requests refused by a quota, by the quota's flag name
	// (tenants and keys are not labels, to bound cardinality).
	quotaRefusals *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pemba_grpc_requests_total",
			Help: "RPCs handled, by method (e.g. pemba.v1.PermissionService/Check), status code and transport (grpc or rest).",
		}, []string{"method", "code", "transport"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pemba_grpc_request_duration_seconds",
			Help:    "RPC latency, by method, status code and transport.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "code", "transport"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pemba_grpc_requests_in_flight",
			Help: "RPCs being handled, by method and transport.",
		}, []string{"method", "transport"}),
		quotaRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pemba_quota_refusals_total",
			Help: "Requests refused with RESOURCE_EXHAUSTED by a quota, by quota (its flag name, e.g. tenant-requests-per-second).",
		}, []string{"quota"}),
	}
	v := version.Get()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pemba_build_info",
		Help: "Always 1; the labels say which version, commit and Go version the server runs.",
	}, []string{"version", "commit", "go_version"})
	build.WithLabelValues(v.Version, v.Commit, v.GoVersion).Set(1)
	reg.MustRegister(m.requests, m.latency, m.inFlight, m.quotaRefusals, build)
	return m
}

// newRegistry returns a metrics registry with the Go runtime and process collectors,
// the default of Config.Registry.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

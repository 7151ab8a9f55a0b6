package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Health has two questions with two answers. Liveness: does the process still serve
// HTTP at all (GET /livez)? A failing answer means restart it. Readiness: can it
// answer requests now (GET /readyz, its older name GET /healthz, and gRPC health)?
// A failing answer means send it no traffic until it recovers: it says so while
// shutting down and while the store cannot be reached, which a restart would not
// mend. The process's owner (serve's probe loop) reports reachability with
// ReportStore.

// storeCheckTimeout bounds the store check of one readiness request.
const storeCheckTimeout = 2 * time.Second

// routeHealth adds the health endpoints, which need no key, to mux.
func (s *Server) routeHealth(mux *http.ServeMux) {
	mux.HandleFunc("GET /livez", serveLivez)
	mux.HandleFunc("GET /readyz", s.serveReadyz)
	mux.HandleFunc("GET /healthz", s.serveReadyz)
}

// ReportStore tells the server whether its store answered its owner's last probe:
// gRPC health reports SERVING after nil and NOT_SERVING after an error. Once
// Shutdown has begun, health stays NOT_SERVING whatever is reported.
func (s *Server) ReportStore(err error) {
	st := healthpb.HealthCheckResponse_SERVING
	if err != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	s.storeErr.Store(&probeResult{err: err})
	s.health.SetServingStatus("", st)
}

// probeResult is the last reported store probe.
type probeResult struct{ err error }

// serveLivez answers 200 whenever the process serves HTTP: liveness follows the
// process only, never the store.
func serveLivez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// serveReadyz answers 200 when the server is serving and its store answers now, 503
// otherwise (while shutting down, or when the store is unreachable), with the
// reason in the body.
func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := s.health.Check(r.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		w.WriteHeader(http.StatusServiceUnavailable)
		if p := s.storeErr.Load(); p != nil && p.err != nil {
			fmt.Fprintf(w, "not ready: datastore unavailable: %v\n", p.err)
		} else {
			fmt.Fprintln(w, "not ready: shutting down")
		}
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeCheckTimeout)
	defer cancel()
	if _, err := s.ds.HeadRevision(ctx, tuple.DefaultTenant); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: datastore unavailable: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}

package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// Readiness follows the store as its owner reports it, liveness only the process:
// while the store is reported unreachable gRPC health says NOT_SERVING and /readyz
// and /healthz answer 503 naming the cause, while /livez stays 200; a later good
// report makes it ready again.
func TestHealthFollowsReportedStore(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	health := healthpb.NewHealthClient(ts.conn)
	grpcStatus := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("gRPC health: %v", err)
		}
		return resp.GetStatus()
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(ts.base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	expect := func(when string, grpcWant healthpb.HealthCheckResponse_ServingStatus, ready int, reason string) {
		t.Helper()
		if got := grpcStatus(); got != grpcWant {
			t.Errorf("%s: gRPC health %v, want %v", when, got, grpcWant)
		}
		for _, path := range []string{"/readyz", "/healthz"} {
			code, body := get(path)
			if code != ready || !strings.Contains(body, reason) {
				t.Errorf("%s: %s answered %d %q, want %d containing %q", when, path, code, body, ready, reason)
			}
		}
		if code, body := get("/livez"); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s: /livez answered %d %q, want 200 ok", when, code, body)
		}
	}

	expect("at start", healthpb.HealthCheckResponse_SERVING, http.StatusOK, "ok")
	ts.ReportStore(errors.Join(datastore.ErrUnavailable, errors.New("dial tcp 127.0.0.1:5432: connection refused")))
	expect("store reported down", healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable, "connection refused")
	ts.ReportStore(nil)
	expect("store reported back", healthpb.HealthCheckResponse_SERVING, http.StatusOK, "ok")

}

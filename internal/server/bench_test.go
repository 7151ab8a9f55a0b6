package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// BenchmarkCheckGRPC measures one Check through the whole gRPC pipeline on loopback
// (auth, limits, metrics, logging, engine with a warm cache).
func BenchmarkCheckGRPC(b *testing.B) {
	ts := startServer(b, quietLogs)
	setupBench(b, ts)
	ctx := as(readerSecret)
	req := &pb.CheckRequest{Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "bob"}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ts.permissions().Check(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCheckGRPCOverQuota measures the same Check refused by its tenant's rate
// quota: what a client over its quota costs the server (and itself), per request.
func BenchmarkCheckGRPCOverQuota(b *testing.B) {
	ts := startServer(b, func(c *server.Config) {
		quietLogs(c)
		c.Quotas.Tenant = server.TenantQuota{Quota: server.Quota{RequestsPerSecond: 0.001, Burst: 2}}
	})
	setupBench(b, ts) // spends the burst
	ctx := as(readerSecret)
	req := &pb.CheckRequest{Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "bob"}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ts.permissions().Check(ctx, req); status.Code(err) != codes.ResourceExhausted {
				b.Errorf("a check over the quota: %v", err)
				return
			}
		}
	})
}

// BenchmarkCheckREST measures the same Check through the REST gateway.
func BenchmarkCheckREST(b *testing.B) {
	ts := startServer(b, quietLogs)
	setupBench(b, ts)
	body := `{"resource":{"type":"document","id":"q3"},"permission":"view","subject":{"type":"user","id":"bob"}}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", ts.base+"/v1/permissions/check", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+readerSecret)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body) // so the connection is reused
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func setupBench(b *testing.B, ts *testServer) {
	ts.writeSchema(b, "")
	ts.touch(b, "", "document:q3#viewer@group:finance#member", "group:finance#member@user:bob")
}

// quietLogs logs at info, as a production server does, so successful requests are
// not logged.
func quietLogs(c *server.Config) {
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// BenchmarkHealthGRPC is the transport's floor: a no-op RPC without auth or engine.
func BenchmarkHealthGRPC(b *testing.B) {
	ts := startServer(b, quietLogs)
	client := healthpb.NewHealthClient(ts.conn)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Check(b.Context(), &healthpb.HealthCheckRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHealthzHTTP is the HTTP side's floor: GET /healthz without the gateway.
func BenchmarkHealthzHTTP(b *testing.B) {
	ts := startServer(b, quietLogs)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(ts.base + "/healthz")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

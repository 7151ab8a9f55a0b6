package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Run on a database that cannot be reached serves instead of exiting: gRPC health
// says NOT_SERVING, /readyz answers 503 saying the database has not been reached,
// /livez answers 200; when its context ends it returns cleanly, its opener stopped.
// (deploy/probes_test.go shows it becoming ready once the database is reachable.)
func TestRunServesNotReadyWhileDatabaseUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close() // nothing listens there now: connections are refused

	cfg := DefaultConfig()
	cfg.Datastore = "postgres"
	cfg.DatastoreURI = "postgres://postgres@" + closed + "/test?sslmode=disable"
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	logs, lines := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, slog.New(slog.NewJSONHandler(lines, nil)))
		lines.Close()
	}()
	var grpcAddr, httpAddr string
	sc := bufio.NewScanner(logs)
	for grpcAddr == "" && sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "serving" {
			grpcAddr, _ = line["grpc"].(string)
			httpAddr, _ = line["http"].(string)
		}
	}
	go io.Copy(io.Discard, logs)
	if grpcAddr == "" {
		t.Fatalf("Run did not serve with the database unreachable: %v", <-done)
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("gRPC health with the database unreachable: %v %v, want NOT_SERVING", resp, err)
	}
	for path, want := range map[string]struct {
		code int
		body string
	}{
		"/readyz": {http.StatusServiceUnavailable, "has not been reached since start-up"},
		"/livez":  {http.StatusOK, "ok"},
	} {
		r, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != want.code || !strings.Contains(string(body), want.body) {
			t.Errorf("%s: %d %q, want %d containing %q", path, r.StatusCode, body, want.code, want.body)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// A database URI that cannot be parsed is a configuration to fix, not an outage to
// wait out: Run returns its error at once.
func TestRunRefusesBadDatabaseURI(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Datastore = "postgres"
	cfg.DatastoreURI = "postgres://postgres@127.0.0.1:5432/test?sslmode=sometimes"
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "datastore URI") {
		t.Errorf("Run with a bad URI: %v, want an error naming the datastore URI", err)
	}
}

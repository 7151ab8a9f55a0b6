package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/bolt"
)

// Run serves on the embedded store with its loops running, and when its context ends
// it drains, stops the loops and closes the store: the store can be opened again at
// once, which the embedded store refuses while another opener holds it.
func TestRunStopsInOrder(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DatastorePath = dir
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.GCInterval = 10 * time.Millisecond // the collection loop runs while serving
	cfg.ShutdownGrace = 5 * time.Second

	logs, lines := io.Pipe()
	log := slog.New(slog.NewJSONHandler(lines, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, log)
		lines.Close()
	}()

	grpcAddr := ""
	sc := bufio.NewScanner(logs)
	for grpcAddr == "" && sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "serving" {
			grpcAddr, _ = line["grpc"].(string)
		}
	}
	go io.Copy(io.Discard, logs)
	if grpcAddr == "" {
		t.Fatalf("Run did not report serving: %v", <-done)
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
	time.Sleep(50 * time.Millisecond) // let garbage collection run a few times

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	ds, err := bolt.Open(dir, bolt.Options{Options: datastore.Options{}})
	if err != nil {
		t.Fatalf("the store is still held after Run returned: %v", err)
	}
	ds.Close()
}

// A configuration that cannot serve is refused before any data is opened.
func TestRunRefusesBadConfigBeforeOpeningTheStore(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.GRPCAddr = "0.0.0.0:0" }, "refusing to listen on 0.0.0.0:0 without authentication"},
		{func(c *Config) { c.PresharedKeys = []string{"portal:boss:s3cret"} }, `role "boss" is not one of`},
		{func(c *Config) { c.PresharedKeys = []string{"s3cret"}; c.PprofAddr = "0.0.0.0:6060" }, "not a loopback address"},
		{func(c *Config) { c.TLSCertFile = "cert.pem" }, "TLS needs both a certificate file"},
		{func(c *Config) { c.Datastore = "sqlite" }, `--datastore "sqlite" is not one of`},
		{func(c *Config) { c.Datastore = "postgres" }, "--datastore postgres needs --datastore-uri"},
		{func(c *Config) { c.MemoryLimit = -1 }, "--memory-limit -1 is negative"},
		{func(c *Config) { c.MemoryLimit = 1 << 30; c.MemoryLimitRatio = 1.5 }, "--memory-limit-ratio 1.5 is not in (0, 1]"},
		{func(c *Config) { c.MemoryLimit = 32 << 20 }, "under the 64 MiB the server needs"},
	}
	for _, tc := range cases {
		dir := t.TempDir() + "/data"
		cfg := DefaultConfig()
		cfg.DatastorePath = dir
		cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
		tc.edit(&cfg)
		err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run with a bad config: %v, want %q", err, tc.want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Run refusing %q created the store's directory (%v)", tc.want, err)
		}
	}
}

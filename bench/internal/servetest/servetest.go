// Package servetest builds the real pemba binary and runs `pemba serve` for the
// benchmark packages' tests, which measure and verify against a real server.
package servetest

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// Build compiles the pemba binary into dir and returns its path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "pemba")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/pemba-authz/pemba/cmd/pemba")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", &buildError{err: err, out: out.String()}
	}
	return bin, nil
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "building pemba: " + e.err.Error() + "\n" + e.out }

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Server is a running `pemba serve`: its gRPC and HTTP addresses and process id.
type Server struct {
	GRPC, HTTP string
	PID        int
}

// Start runs `bin serve` on a memory store with the preshared key on free loopback
// ports, waits until its gRPC health check answers, and returns the gRPC address. The
// server is stopped with SIGTERM when the test ends; its log is shown if the test
// failed. More flags for `serve` may follow the key (a later flag wins, so
// `--datastore bolt --datastore-path DIR` selects another store).
func Start(t testing.TB, bin, key string, flags ...string) string {
	t.Helper()
	return StartServer(t, bin, key, flags...).GRPC
}

// StartServer is Start returning the whole Server.
func StartServer(t testing.TB, bin, key string, flags ...string) Server {
	t.Helper()
	srv := Server{GRPC: FreeAddr(t), HTTP: FreeAddr(t)}
	grpcAddr := srv.GRPC
	args := append([]string{"serve", "--datastore", "memory", "--grpc-addr", grpcAddr,
		"--http-addr", srv.HTTP, "--preshared-key", key, "--log-level", "warn", "--gc-interval", "0"}, flags...)
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	srv.PID = cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil {
			return srv
		}
	}
	t.Fatalf("pemba serve did not come up: %s", logs.String())
	return Server{}
}

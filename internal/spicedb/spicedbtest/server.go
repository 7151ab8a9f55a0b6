package spicedbtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Version is the SpiceDB release the tests run against (pinned in ./spicedb/go.mod).
const Version = "v1.56.2"

// BinaryEnv names a prebuilt SpiceDB binary; .ci/run builds it once, before the tests.
const BinaryEnv = "PEMBA_TEST_SPICEDB"

// Server is a SpiceDB server with an in-memory datastore on a loopback port.
type Server struct {
	// Endpoint is its gRPC address, Key its preshared key.
	Endpoint, Key string
	conn          *grpc.ClientConn
}

// Binary returns the path of a SpiceDB binary: $PEMBA_TEST_SPICEDB when set (it must
// exist), or one built from the module proxy into the user cache on first use.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", BinaryEnv, p, err)
		}
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(cache, "pemba-test", "spicedb-"+Version)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	_, self, _, _ := runtime.Caller(0)
	tmp := fmt.Sprintf("%s.%d", bin, os.Getpid())
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("building SpiceDB %s (once; set %s to a prebuilt binary to skip this)", Version, BinaryEnv)
	cmd := exec.Command("go", "build", "-o", tmp, "github.com/authzed/spicedb/cmd/spicedb")
	cmd.Dir = filepath.Join(filepath.Dir(self), "spicedb")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building SpiceDB: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// Start runs a SpiceDB server until the test ends. It listens on loopback only and
// reports nowhere (telemetry off).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	key := randomKey(t)
	var last error
	for range 5 {
		addr := freeAddr(t)
		var logs bytes.Buffer
		cmd := exec.Command(bin, "serve",
			"--grpc-preshared-key", key,
			"--grpc-addr", addr,
			"--datastore-engine", "memory",
			"--http-enabled=false",
			"--metrics-enabled=false",
			"--telemetry-endpoint=",
			"--log-level", "warn",
		)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		s := &Server{Endpoint: addr, Key: key}
		if last = s.waitReady(exited); last == nil {
			t.Cleanup(func() {
				s.conn.Close()
				cmd.Process.Kill()
				<-exited
			})
			return s
		}
		cmd.Process.Kill()
		<-exited
		last = fmt.Errorf("%v\n%s", last, logs.String())
	}
	t.Fatalf("SpiceDB did not start: %v", last)
	return nil
}

// waitReady connects and waits until the server answers a schema read.
func (s *Server) waitReady(exited <-chan error) error {
	conn, err := grpc.NewClient(s.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	s.conn = conn
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			conn.Close()
			return fmt.Errorf("SpiceDB exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(s.Context(context.Background()), 2*time.Second)
		_, err := v1.NewSchemaServiceClient(conn).ReadSchema(ctx, &v1.ReadSchemaRequest{})
		cancel()
		if c := status.Code(err); c == codes.OK || c == codes.NotFound {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	conn.Close()
	return fmt.Errorf("SpiceDB at %s did not answer within 60s", s.Endpoint)
}

// Context carries the server's key.
func (s *Server) Context(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.Key)
}

// Conn is a connection to the server; calls need Context for the key.
func (s *Server) Conn() *grpc.ClientConn { return s.conn }

func randomKey(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

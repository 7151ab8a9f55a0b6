package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/serve"
	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestMetricsCountPerMethod(t *testing.T) {
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	for range 3 {
		ts.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:a1"))
	}
	ts.permissions().Check(context.Background(), checkReq("", "document:d1", "view", "user:a1"))
	ts.rest(t, "POST", "/v1/permissions/check", readerSecret, `{"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"a1"}}`)

	code, raw := ts.restRaw(t, "GET", "/metrics", "", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	text := string(raw)
	for _, want := range []string{
		`pemba_grpc_requests_total{code="OK",method="pemba.v1.PermissionService/Check",transport="grpc"} 3`,
		`pemba_grpc_requests_total{code="Unauthenticated",method="pemba.v1.PermissionService/Check",transport="grpc"} 1`,
		`pemba_grpc_requests_total{code="OK",method="pemba.v1.PermissionService/Check",transport="rest"} 1`,
		`pemba_grpc_requests_total{code="OK",method="pemba.v1.SchemaService/WriteSchema",transport="grpc"} 1`,
		`pemba_grpc_request_duration_seconds_bucket{code="OK",method="pemba.v1.PermissionService/Check",transport="grpc",le="+Inf"} 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	ts := startServer(t, nil)
	code, body := ts.rest(t, "POST", "/v1/nosuch", adminSecret, `{}`)
	wantHTTPError(t, code, body, http.StatusNotFound, codes.NotFound)
}

func TestLoopbackRule(t *testing.T) {
	// New checks the rule; build the whole stack as serve does to reach it.
	newServer := func(cfg server.Config) (*server.Server, error) {
		ds := memory.New(datastore.Options{})
		defer ds.Close()
		st, err := serve.NewStack(ds, serve.StackOptions{Server: cfg})
		if err != nil {
			return nil, err
		}
		return st.Server, nil
	}
	var base server.Config

	cfg := base
	cfg.GRPCAddr, cfg.HTTPAddr = "0.0.0.0:0", "127.0.0.1:0"
	if _, err := newServer(cfg); err == nil || !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0:0 without authentication") {
		t.Errorf("no keys on 0.0.0.0: %v", err)
	}
	cfg.HTTPAddr = ":8080"
	cfg.GRPCAddr = "[::1]:0"
	if _, err := newServer(cfg); err == nil || !strings.Contains(err.Error(), "refusing to listen on :8080") {
		t.Errorf("no keys on :8080: %v", err)
	}
	cfg.InsecureNoAuth = true
	if _, err := newServer(cfg); err != nil {
		t.Errorf("with --insecure-no-auth: %v", err)
	}
	cfg = base
	cfg.GRPCAddr, cfg.HTTPAddr = "0.0.0.0:0", "0.0.0.0:0"
	cfg.Keys = testKeys()
	if _, err := newServer(cfg); err != nil {
		t.Errorf("with keys: %v", err)
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, "127.8.9.10:1": true, "0.0.0.0:1": false, ":1": false, "10.0.0.1:1": false, "nonsense": false} {
		if server.IsLoopback(addr) != want {
			t.Errorf("server.IsLoopback(%q) = %v", addr, !want)
		}
	}

	// Without keys on loopback every caller is an admin, and the log says so loudly.
	ts := startServer(t, func(c *server.Config) { c.Keys = nil })
	if _, err := ts.tenants().ListTenants(context.Background(), &pb.ListTenantsRequest{}); err != nil {
		t.Errorf("open server: %v", err)
	}
	if !strings.Contains(ts.logs.String(), "RUNNING WITHOUT AUTHENTICATION") {
		t.Error("the open server did not warn")
	}
}

// Shutdown lets a request in flight finish, refuses new ones and reports NOT_SERVING.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	ts := startServer(t, func(c *server.Config) {
		c.Engine = &stubEngine{check: func(ctx context.Context) (engine.CheckResult, error) {
			once.Do(func() { close(entered) })
			select {
			case <-release:
				return engine.CheckResult{Permissionship: engine.HasPermission}, nil
			case <-ctx.Done():
				return engine.CheckResult{}, ctx.Err()
			}
		}}
	})
	// A watch is open too; shutdown must not wait for it.
	w, err := ts.watch().Watch(as(readerSecret), &pb.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		resp, err := ts.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:a1"))
		if err == nil && resp.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
			err = errUnexpected(resp.String())
		}
		done <- err
	}()
	<-entered

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	// The watch ends with UNAVAILABLE telling the client to resume.
	if _, err := w.Recv(); err == nil {
		t.Fatal("the watch did not end")
	} else {
		wantCode(t, err, codes.Unavailable, "shutting down", "after_token")
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the in-flight request failed: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := ts.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:a1")); err == nil {
		t.Error("a request after shutdown succeeded")
	}
}

type errUnexpected string

func (e errUnexpected) Error() string { return "unexpected answer: " + string(e) }

// TLS with a client CA: a client without a certificate is refused on both ports; one
// with a certificate signed by the CA gets in.
func TestMutualTLS(t *testing.T) {
	ca, caKey := newCA(t)
	serverCert := issue(t, ca, caKey, "server", true)
	clientCert := issue(t, ca, caKey, "client", false)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ts := startServer(t, func(c *server.Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	})

	dial := func(certs []tls.Certificate) error {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: certs, ServerName: "127.0.0.1"})
		conn, err := grpc.NewClient(ts.GRPCAddr(), grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := dial(nil); err == nil {
		t.Error("gRPC without a client certificate succeeded")
	}
	if err := dial([]tls.Certificate{clientCert}); err != nil {
		t.Errorf("gRPC with a client certificate: %v", err)
	}

	get := func(certs []tls.Certificate) (*http.Response, error) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		return client.Get("https://" + ts.HTTPAddr() + "/healthz")
	}
	if resp, err := get(nil); err == nil {
		resp.Body.Close()
		t.Error("HTTPS without a client certificate succeeded")
	}
	resp, err := get([]tls.Certificate{clientCert})
	if err != nil {
		t.Fatalf("HTTPS with a client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HTTPS /healthz: %d", resp.StatusCode)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pemba test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/serve"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Test keys. Their secrets are what clients send.
const (
	adminSecret    = "admin-secret-0001"
	readerSecret   = "reader-secret-0002"
	delegateSecret = "delegate-secret-0003"
	tenantASecret  = "tenant-a-secret-0004"
	tenantAdmin    = "tenant-a-admin-0005"
)

func testKeys() []server.Key {
	return []server.Key{
		server.NewKey("admin", server.RoleAdmin, nil, adminSecret),
		server.NewKey("reader", server.RoleReader, nil, readerSecret),
		server.NewKey("delegate", server.RoleDelegate, nil, delegateSecret),
		server.NewKey("tenant-a-reader", server.RoleReader, []string{"tenant-a"}, tenantASecret),
		server.NewKey("tenant-a-admin", server.RoleAdmin, []string{"tenant-a"}, tenantAdmin),
	}
}

// testServer is a real server on loopback ports with a memory store, the real engine
// and the real write path, built as `pemba serve` builds them.
type testServer struct {
	*server.Server
	ds   datastore.Datastore
	conn *grpc.ClientConn
	base string // http://127.0.0.1:port
	logs *syncBuffer
	// sweeper is the stack's grant sweeper, for tests to run a pass.
	sweeper *serve.GrantSweeper
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer starts a server; edit may change the server's configuration first (it
// gets one with test keys and loopback addresses; the stack fills in the memory store,
// the engine, the write path and governance where edit leaves them nil).
func startServer(t testing.TB, edit func(*server.Config)) *testServer {
	t.Helper()
	return startServerOn(t, memory.New(datastore.Options{}), false, edit)
}

// startServerOn is startServer over a given store, with the in-memory index in
// front of it when index is set, as `pemba serve` runs the durable stores.
func startServerOn(t testing.TB, ds datastore.Datastore, index bool, edit func(*server.Config)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	cfg := server.Config{
		GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		Keys:     testKeys(),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	st, err := serve.NewStack(ds, serve.StackOptions{Index: index, Server: cfg})
	if err != nil {
		t.Fatalf("NewStack: %v", err)
	}
	srv := st.Server
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, ds: st.Store, conn: conn, base: "http://" + srv.HTTPAddr(), logs: logs, sweeper: st.Sweeper}
	t.Cleanup(func() {
		conn.Close()
		// More than the 5s an HTTP server waits for a connection that never sent a
		// request.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		st.Close()
		if os.Getenv("PEMBA_TEST_SERVER_LOGS") != "" {
			t.Log(logs.String())
		}
	})
	return ts
}

// as returns a context carrying a bearer key.
func as(secret string) context.Context {
	ctx := context.Background()
	if secret == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

func (ts *testServer) permissions() pb.PermissionServiceClient {
	return pb.NewPermissionServiceClient(ts.conn)
}
func (ts *testServer) relationships() pb.RelationshipServiceClient {
	return pb.NewRelationshipServiceClient(ts.conn)
}
func (ts *testServer) schemas() pb.SchemaServiceClient { return pb.NewSchemaServiceClient(ts.conn) }
func (ts *testServer) tenants() pb.TenantServiceClient { return pb.NewTenantServiceClient(ts.conn) }
func (ts *testServer) audit() pb.AuditServiceClient    { return pb.NewAuditServiceClient(ts.conn) }
func (ts *testServer) watch() pb.WatchServiceClient    { return pb.NewWatchServiceClient(ts.conn) }
func (ts *testServer) governance() pb.GovernanceServiceClient {
	return pb.NewGovernanceServiceClient(ts.conn)
}

// writeSchema writes testdata/docs.zed to a tenant as admin.
func (ts *testServer) writeSchema(t testing.TB, tenant string) string {
	t.Helper()
	text, err := os.ReadFile("testdata/docs.zed")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.schemas().WriteSchema(as(adminSecret), &pb.WriteSchemaRequest{Tenant: tenant, Schema: string(text)})
	if err != nil {
		t.Fatalf("WriteSchema(%q): %v", tenant, err)
	}
	return resp.GetToken()
}

// touch writes relationships in text form as admin and returns the token.
func (ts *testServer) touch(t testing.TB, tenant string, rels ...string) string {
	t.Helper()
	req := &pb.WriteRelationshipsRequest{Tenant: tenant}
	for _, r := range rels {
		req.Updates = append(req.Updates, &pb.RelationshipUpdate{
			Operation:    pb.RelationshipUpdate_OPERATION_TOUCH,
			Relationship: protoconv.RelationshipToProto(tuple.MustParse(r)),
		})
	}
	resp, err := ts.relationships().WriteRelationships(as(adminSecret), req)
	if err != nil {
		t.Fatalf("WriteRelationships(%v): %v", rels, err)
	}
	return resp.GetToken()
}

// rest sends a JSON request and returns the status and the decoded body.
func (ts *testServer) rest(t *testing.T, method, path, secret, body string) (int, map[string]any) {
	t.Helper()
	code, raw := ts.restRaw(t, method, path, secret, body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return code, out
}

func (ts *testServer) restRaw(t *testing.T, method, path, secret, body string) (int, []byte) {
	t.Helper()
	resp, raw := ts.restResponse(t, method, path, secret, body)
	return resp.StatusCode, raw
}

// restResponse sends a JSON request and returns the response, its body read.
func (ts *testServer) restResponse(t *testing.T, method, path, secret, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// wantCode fails unless err has the code and its message contains every fragment.
func wantCode(t *testing.T, err error, code codes.Code, fragments ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v %q, want %v", st.Code(), st.Message(), code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("message %q does not contain %q", st.Message(), f)
		}
	}
}

// wantHTTPError fails unless a REST answer is an error with the status and gRPC code.
func wantHTTPError(t *testing.T, gotStatus int, body map[string]any, wantStatus int, code codes.Code, fragments ...string) {
	t.Helper()
	if gotStatus != wantStatus {
		t.Fatalf("HTTP status %d, want %d (body %v)", gotStatus, wantStatus, body)
	}
	if got, _ := body["code"].(float64); int(got) != int(code) {
		t.Errorf("body code %v, want %d (%v)", body["code"], code, body)
	}
	if body["status"] != protoconv.CodeName(code) {
		t.Errorf("body status %v, want %s", body["status"], protoconv.CodeName(code))
	}
	msg, _ := body["message"].(string)
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("message %q does not contain %q", msg, f)
		}
	}
}

func checkReq(tenant, resource, permission, subject string) *pb.CheckRequest {
	res, err := tuple.ParseObject(resource)
	if err != nil {
		panic(err)
	}
	sub, err := tuple.ParseSubject(subject)
	if err != nil {
		panic(err)
	}
	return &pb.CheckRequest{
		Tenant:      tenant,
		Resource:    protoconv.ObjectToProto(res),
		Permission:  permission,
		Subject:     protoconv.SubjectToProto(sub),
		Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
	}
}

func metadataCtx(header string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", header)
}

func metadataCtxIncoming(header string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", header))
}

func mustParse(s string) tuple.Relationship { return tuple.MustParse(s) }

func contextWithCancel(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(parent)
}

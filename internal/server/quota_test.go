package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// refusal is what a quota refusal says, over gRPC or REST.
type refusal struct {
	subject, quota string
	retry          time.Duration // 0: no retry information
}

// grpcRefusal fails unless err is RESOURCE_EXHAUSTED with one QuotaFailure violation,
// and returns it with the RetryInfo delay.
func grpcRefusal(t *testing.T, err error, fragments ...string) refusal {
	t.Helper()
	wantCode(t, err, codes.ResourceExhausted, fragments...)
	var r refusal
	violations := 0
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.QuotaFailure:
			for _, v := range d.GetViolations() {
				violations++
				r.subject, r.quota = v.GetSubject(), v.GetQuotaId()
			}
		case *errdetails.RetryInfo:
			r.retry = d.GetRetryDelay().AsDuration()
		}
	}
	if violations != 1 {
		t.Fatalf("refusal %q has %d quota violations, want 1", status.Convert(err).Message(), violations)
	}
	return r
}

// restAnswer is a REST response's status, Retry-After header and decoded error body.
type restAnswer struct {
	status     int
	retryAfter string
	body       map[string]any
}

func (ts *testServer) restCall(t *testing.T, path, secret, body string) restAnswer {
	t.Helper()
	resp, raw := ts.restResponse(t, "POST", path, secret, body)
	a := restAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	// A streaming route's error is its first line, {"error": {...}}.
	line, _, _ := strings.Cut(string(raw), "\n")
	var chunk struct {
		Error map[string]any `json:"error"`
	}
	if json.Unmarshal([]byte(line), &chunk) == nil && chunk.Error != nil {
		a.body = chunk.Error
	} else if err := json.Unmarshal([]byte(line), &a.body); err != nil {
		t.Fatalf("POST %s: body is not JSON: %s", path, raw)
	}
	return a
}

// wantREST429 fails unless a REST answer is a 429 with the body of a
// RESOURCE_EXHAUSTED error and, when retry is set, a Retry-After header of at most
// that many seconds (none otherwise).
func wantREST429(t *testing.T, a restAnswer, retry time.Duration, fragments ...string) {
	t.Helper()
	wantHTTPError(t, a.status, a.body, http.StatusTooManyRequests, codes.ResourceExhausted, fragments...)
	if retry == 0 {
		if a.retryAfter != "" {
			t.Errorf("Retry-After %q on a refusal that waiting does not cure", a.retryAfter)
		}
		return
	}
	secs, err := strconv.Atoi(a.retryAfter)
	if err != nil || secs < 1 || float64(secs) > math.Ceil(retry.Seconds()) {
		t.Errorf("Retry-After %q, want whole seconds from 1 to %s", a.retryAfter, retry)
	}
}

func checkBody(tenant string) string {
	return fmt.Sprintf(`{"tenant":%q,"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"alice"}}`, tenant)
}

// quotaTenant creates a tenant with the test schema and alice as a viewer of d1, as
// the admin key, which costs the tenant two requests of its rate. It returns the
// token of the write.
func (ts *testServer) quotaTenant(t *testing.T, tenant string) string {
	t.Helper()
	if tenant != "default" {
		if _, err := ts.tenants().CreateTenant(as(adminSecret), &pb.CreateTenantRequest{Tenant: tenant}); err != nil {
			t.Fatal(err)
		}
	}
	ts.writeSchema(t, tenant)
	return ts.touch(t, tenant, "document:d1#viewer@user:alice")
}

// TestTenantRateQuota drives one tenant over its rate over gRPC and REST and checks
// the refusals and their retry information, that other tenants are not refused, and
// the refusals' metric.
func TestTenantRateQuota(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		// One token per 10s: the test never waits for a refill.
		c.Quotas.Tenants = map[string]server.TenantQuota{"tenant-b": {Quota: server.Quota{RequestsPerSecond: 0.1, Burst: 4}}}
	})
	ts.quotaTenant(t, "tenant-b")
	ts.quotaTenant(t, "default")
	check := func(tenant string) error {
		_, err := ts.permissions().Check(as(readerSecret), checkReq(tenant, "document:d1", "view", "user:alice"))
		return err
	}
	for i := range 2 {
		if err := check("tenant-b"); err != nil {
			t.Fatalf("check %d within the burst: %v", i+1, err)
		}
	}
	r := grpcRefusal(t, check("tenant-b"), `tenant "tenant-b" is over its rate of 0.1/s`, "--tenant-requests-per-second", "retry in")
	if r.subject != "tenant:tenant-b" || r.quota != "tenant-requests-per-second" || r.retry <= 0 || r.retry > 10*time.Second {
		t.Fatalf("refusal %+v, want tenant:tenant-b, tenant-requests-per-second and a delay of at most 10s", r)
	}
	// Another tenant, with the same key, is not refused.
	for i := range 20 {
		if err := check("default"); err != nil {
			t.Fatalf("check %d in another tenant: %v", i+1, err)
		}
	}
	wantREST429(t, ts.restCall(t, "/v1/permissions/check", readerSecret, checkBody("tenant-b")), 10*time.Second, "tenant-requests-per-second")
	// A streaming route is refused with the same status and header; its body is the
	// gateway's error chunk, a google.rpc.Status.
	a := ts.restCall(t, "/v1/permissions/resources", readerSecret,
		`{"tenant":"tenant-b","resource_type":"document","permission":"view","subject":{"type":"user","id":"alice"}}`)
	if a.status != http.StatusTooManyRequests || a.body["code"] != float64(codes.ResourceExhausted) || a.retryAfter == "" ||
		!strings.Contains(fmt.Sprint(a.body["message"]), "tenant-requests-per-second") {
		t.Fatalf("REST lookup over the rate: %d, Retry-After %q, %v", a.status, a.retryAfter, a.body)
	}
	if a := ts.restCall(t, "/v1/permissions/check", readerSecret, checkBody("default")); a.status != http.StatusOK {
		t.Fatalf("REST check in another tenant: %d %v", a.status, a.body)
	}
	_, metrics := ts.restRaw(t, "GET", "/metrics", "", "")
	if !strings.Contains(string(metrics), `pemba_quota_refusals_total{quota="tenant-requests-per-second"} 3`) {
		t.Errorf("metrics do not count the 3 refusals:\n%s", grepLines(string(metrics), "pemba_quota"))
	}
}

func grepLines(text, fragment string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, fragment) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestKeyQuotaIsIndependentOfTenantQuota gives the reader key a rate of its own and
// one tenant a rate: the key is refused in every tenant once its rate is spent while
// other keys go on, and the tenant refuses every key, an unlimited one included.
func TestKeyQuotaIsIndependentOfTenantQuota(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		for i := range c.Keys {
			if c.Keys[i].Name == "reader" {
				c.Keys[i].Quota = &server.Quota{RequestsPerSecond: 0.1, Burst: 3}
			}
		}
		c.Quotas.Tenants = map[string]server.TenantQuota{"tenant-b": {Quota: server.Quota{RequestsPerSecond: 0.1, Burst: 5}}}
	})
	ts.quotaTenant(t, "default")
	ts.quotaTenant(t, "tenant-b")
	check := func(secret, tenant string) error {
		_, err := ts.permissions().Check(as(secret), checkReq(tenant, "document:d1", "view", "user:alice"))
		return err
	}
	// tenant-b has spent 2 of its 5 on the setup.
	for _, tenant := range []string{"default", "tenant-b", "default"} {
		if err := check(readerSecret, tenant); err != nil {
			t.Fatalf("reader in %s within its burst: %v", tenant, err)
		}
	}
	r := grpcRefusal(t, check(readerSecret, "default"), `key "reader"`, "--key-requests-per-second")
	if r.subject != "key:reader" || r.quota != "key-requests-per-second" || r.retry <= 0 || r.retry > 10*time.Second {
		t.Fatalf("refusal %+v, want key:reader, key-requests-per-second, a delay of at most 10s", r)
	}
	wantREST429(t, ts.restCall(t, "/v1/permissions/check", readerSecret, checkBody("default")), 10*time.Second, `key "reader"`)
	// Requests the key refuses give the tenant's token back: these five leave
	// tenant-b the two it has left.
	for range 5 {
		if r := grpcRefusal(t, check(readerSecret, "tenant-b")); r.subject != "key:reader" {
			t.Fatalf("the exhausted reader key in tenant-b: refused by %+v, want its own quota", r)
		}
	}
	for i := range 10 {
		if err := check(adminSecret, "default"); err != nil {
			t.Fatalf("admin check %d while the reader key is refused: %v", i+1, err)
		}
	}
	for i := range 2 {
		if err := check(adminSecret, "tenant-b"); err != nil {
			t.Fatalf("admin check %d in tenant-b, within what the tenant has left: %v", i+1, err)
		}
	}
	// Now the tenant refuses the admin key, which has no quota of its own.
	r = grpcRefusal(t, check(adminSecret, "tenant-b"), `tenant "tenant-b"`)
	if r.subject != "tenant:tenant-b" || r.quota != "tenant-requests-per-second" {
		t.Fatalf("refusal %+v, want the tenant's", r)
	}
}

// TestConcurrencyQuota holds a tenant's only slot with an import stream and checks
// that other requests of the tenant are refused meanwhile, that Watch streams do not
// take the slot, and that the slot is released when the import completes and when
// its client cancels it.
func TestConcurrencyQuota(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		c.Quotas.Tenants = map[string]server.TenantQuota{"tenant-b": {Quota: server.Quota{MaxConcurrent: 1}}}
	})
	token := ts.quotaTenant(t, "tenant-b")
	check := func() error {
		_, err := ts.permissions().Check(as(readerSecret), checkReq("tenant-b", "document:d1", "view", "user:alice"))
		return err
	}

	// A Watch stream stays open without taking the slot.
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	w, err := ts.watch().Watch(withSecret(wctx, readerSecret), &pb.WatchRequest{Tenant: "tenant-b", AfterToken: token})
	if err != nil {
		t.Fatal(err)
	}
	ts.touch(t, "tenant-b", "document:d2#viewer@user:alice")
	if _, err := w.Recv(); err != nil {
		t.Fatalf("the watch, open with a write after it: %v", err)
	}
	if err := check(); err != nil {
		t.Fatalf("a check while a Watch stream is open: %v", err)
	}

	// hold opens an import stream of tenant-b and waits until it holds the slot: the
	// server admits it when its first message arrives. A poll that happens to be in
	// flight at that instant has the slot, and the import is refused; then it tries
	// again.
	hold := func(ctx context.Context) pb.RelationshipService_ImportRelationshipsClient {
		t.Helper()
		for range 5 {
			imp, err := ts.relationships().ImportRelationships(withSecret(ctx, adminSecret))
			if err != nil {
				t.Fatal(err)
			}
			rel := protoconv.RelationshipToProto(mustParse("document:d3#viewer@user:alice"))
			if err := imp.Send(&pb.ImportRelationshipsRequest{Tenant: "tenant-b", Relationships: []*pb.Relationship{rel}}); err != nil {
				t.Fatal(err)
			}
			if poll(2*time.Second, func() bool { return status.Code(check()) == codes.ResourceExhausted }) {
				return imp
			}
			if _, err := imp.CloseAndRecv(); err != nil && status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("an import that never held the slot: %v", err)
			}
		}
		t.Fatal("the import never held the slot")
		return nil
	}
	imp := hold(context.Background())
	r := grpcRefusal(t, check(), `tenant "tenant-b" has its 1 requests in flight`, "--tenant-max-concurrent")
	if r.subject != "tenant:tenant-b" || r.quota != "tenant-max-concurrent" || r.retry != 100*time.Millisecond {
		t.Fatalf("refusal %+v, want tenant:tenant-b, tenant-max-concurrent, 100ms", r)
	}
	wantREST429(t, ts.restCall(t, "/v1/permissions/check", readerSecret, checkBody("tenant-b")), time.Second, "in flight")
	if _, err := ts.permissions().Check(as(readerSecret), checkReq("default", "document:d1", "view", "user:alice")); status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("another tenant refused: %v", err)
	}
	if _, err := imp.CloseAndRecv(); err != nil {
		t.Fatalf("completing the import: %v", err)
	}
	waitFor(t, "the completed import to release the slot", func() bool { return check() == nil })

	ctx, cancel := context.WithCancel(context.Background())
	hold(ctx)
	cancel()
	waitFor(t, "the cancelled import to release the slot", func() bool { return check() == nil })
}

func withSecret(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(5*time.Second, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// poll calls cond every 20ms until it holds, for up to d; it reports whether it did.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// TestRelationshipQuota checks a tenant's relationship quota through writes, import
// and REST: a write over it is refused whole with the count and the limit, a write
// that does not grow the tenant passes, and other tenants count apart.
func TestRelationshipQuota(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		c.Quotas.Tenant.MaxRelationships = 3
		c.Quotas.Tenants = map[string]server.TenantQuota{"tenant-b": {MaxRelationships: 100}}
	})
	ts.writeSchema(t, "default")
	ts.touch(t, "default", "document:d1#viewer@user:a", "document:d1#viewer@user:b", "document:d1#viewer@user:c")
	write := func(op pb.RelationshipUpdate_Operation, rels ...string) error {
		req := &pb.WriteRelationshipsRequest{}
		for _, r := range rels {
			req.Updates = append(req.Updates, &pb.RelationshipUpdate{Operation: op, Relationship: protoconv.RelationshipToProto(mustParse(r))})
		}
		_, err := ts.relationships().WriteRelationships(as(adminSecret), req)
		return err
	}
	r := grpcRefusal(t, write(pb.RelationshipUpdate_OPERATION_TOUCH, "document:d1#viewer@user:d", "document:d1#viewer@user:e"),
		`tenant "default" stores 3 relationships`, "bring it to 5", "limit of 3", "nothing was written", "--tenant-max-relationships")
	if r.subject != "tenant:default" || r.quota != "tenant-max-relationships" || r.retry != 0 {
		t.Fatalf("refusal %+v, want tenant:default, tenant-max-relationships and no retry delay", r)
	}
	wantREST429(t, ts.restCall(t, "/v1/relationships/write", adminSecret,
		`{"updates":[{"operation":"OPERATION_TOUCH","relationship":{"resource":{"type":"document","id":"d9"},"relation":"viewer","subject":{"type":"user","id":"bob"}}}]}`),
		0, "limit of 3")
	imp, err := ts.relationships().ImportRelationships(as(adminSecret))
	if err != nil {
		t.Fatal(err)
	}
	rels := []*pb.Relationship{protoconv.RelationshipToProto(mustParse("document:d2#viewer@user:x")), protoconv.RelationshipToProto(mustParse("document:d3#viewer@user:x"))}
	if err := imp.Send(&pb.ImportRelationshipsRequest{Relationships: rels}); err != nil {
		t.Fatal(err)
	}
	_, err = imp.CloseAndRecv()
	grpcRefusal(t, err, "limit of 3")
	if n := ts.count(t, "default"); n != 3 {
		t.Fatalf("the tenant stores %d relationships after the refusals, want 3", n)
	}
	if err := write(pb.RelationshipUpdate_OPERATION_DELETE, "document:d1#viewer@user:a"); err != nil {
		t.Fatal(err)
	}
	if err := write(pb.RelationshipUpdate_OPERATION_CREATE, "document:d1#viewer@user:d"); err != nil {
		t.Fatalf("back to 3 after a delete: %v", err)
	}
	ts.quotaTenant(t, "tenant-b")
	ts.touch(t, "tenant-b", "document:d2#viewer@user:a", "document:d3#viewer@user:a", "document:d4#viewer@user:a")
}

// count is how many relationships a tenant stores, read through the API.
func (ts *testServer) count(t *testing.T, tenant string) int {
	t.Helper()
	stream, err := ts.relationships().ReadRelationships(as(adminSecret), &pb.ReadRelationshipsRequest{
		Tenant: tenant, Filter: &pb.RelationshipFilter{ResourceType: "document"},
		Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// TestLookupWorkQuota bounds the store reads of lookups: over gRPC and REST a lookup
// past the server's limit fails with RESOURCE_EXHAUSTED naming the limit, and a
// tenant with a larger quota of its own completes the same lookup.
func TestLookupWorkQuota(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		c.Limits.MaxLookupWork = 20
		c.Quotas.Tenants = map[string]server.TenantQuota{"tenant-b": {MaxLookupWork: 10000}}
	})
	var rels []string
	for i := range 50 {
		rels = append(rels, fmt.Sprintf("document:d%02d#viewer@user:alice", i))
	}
	for _, tenant := range []string{"default", "tenant-b"} {
		ts.quotaTenant(t, tenant)
		ts.touch(t, tenant, rels...)
	}
	lookup := func(tenant string) (int, error) {
		stream, err := ts.permissions().LookupResources(as(readerSecret), &pb.LookupResourcesRequest{
			Tenant: tenant, ResourceType: "document", Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "alice"},
			Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
		})
		if err != nil {
			return 0, err
		}
		n := 0
		for {
			_, err := stream.Recv()
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}
	n, err := lookup("default")
	r := grpcRefusal(t, err, "LookupResources stopped at its work limit of 20 store reads", "--max-lookup-work")
	if r.quota != "max-lookup-work" || r.retry != 0 || n >= 50 {
		t.Fatalf("refusal %+v after %d results, want max-lookup-work, no retry delay and fewer than 50 results", r, n)
	}
	if n, err := lookup("tenant-b"); err != nil || n != 51 {
		t.Fatalf("the tenant with its own larger limit: %d results, %v", n, err)
	}
	a := ts.restCall(t, "/v1/permissions/subjects", readerSecret, `{"resource":{"type":"document","id":"d01"},"permission":"view","subject_type":"user"}`)
	if a.status != http.StatusOK {
		t.Fatalf("a small LookupSubjects over REST: %d %v", a.status, a.body)
	}
	a = ts.restCall(t, "/v1/permissions/resources", readerSecret, `{"resource_type":"document","permission":"view","subject":{"type":"user","id":"alice"}}`)
	if a.body["code"] != float64(codes.ResourceExhausted) || !strings.Contains(fmt.Sprint(a.body["message"]), "work limit of 20") || a.retryAfter != "" {
		t.Fatalf("REST lookup past the limit: %d %q %v", a.status, a.retryAfter, a.body)
	}
}

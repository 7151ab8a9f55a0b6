package server_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/bolt"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/decisionlog"
	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// decisionServer is a real server with the decision log on, over a store of its own.
type decisionServer struct {
	*testServer
	log *decisionlog.Log
}

// startDecisionServer starts a server whose decision log has cfg (Enabled implied);
// with run the log's writer runs, as serve's loops run it.
func startDecisionServer(t *testing.T, ds datastore.Datastore, cfg decisionlog.Config, run bool) *decisionServer {
	t.Helper()
	cfg.Enabled = true
	l, err := decisionlog.New(cfg, ds.(datastore.DecisionStore), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerOn(t, ds, false, func(c *server.Config) { c.DecisionLog = l })
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); l.Run(ctx) }()
		t.Cleanup(func() { cancel(); wg.Wait() }) // before the server's cleanup closes the store
	}
	return &decisionServer{testServer: ts, log: l}
}

func (ds *decisionServer) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ds.log.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func (ds *decisionServer) decisions(t *testing.T, secret string, req *pb.ReadDecisionsRequest) []*pb.Decision {
	t.Helper()
	var out []*pb.Decision
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		res, err := ds.audit().ReadDecisions(as(secret), req)
		if err != nil {
			t.Fatalf("ReadDecisions(%v): %v", req, err)
		}
		out = append(out, res.GetDecisions()...)
		if res.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = res.GetNextPageToken()
	}
}

// seedDocs writes the docs schema and ann's access to document:d1 in a tenant.
func seedDocs(t *testing.T, ts *testServer, tenant string) {
	t.Helper()
	ts.writeSchema(t, tenant)
	ts.touch(t, tenant, "document:d1#viewer@group:eng#member", "group:eng#member@user:ann", "document:d2#owner@user:bob")
}

func TestDecisionLogRecordsDecisions(t *testing.T) {
	ds := startDecisionServer(t, memory.New(datastore.Options{}), decisionlog.Config{SampleRate: 1, DeniedSampleRate: 1}, true)
	seedDocs(t, ds.testServer, "")
	perms := ds.permissions()
	explained := checkReq("", "document:d1", "view", "user:ann")
	explained.Explain = true
	res, err := perms.Check(as(readerSecret), explained)
	if err != nil || res.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
		t.Fatalf("Check: %v %v", res, err)
	}
	if _, err := perms.Check(as(readerSecret), checkReq("", "document:d2", "view", "user:ann")); err != nil {
		t.Fatal(err)
	}
	bulk := &pb.CheckBulkRequest{Items: []*pb.CheckBulkRequestItem{
		{Resource: &pb.ObjectReference{Type: "document", Id: "d2"}, Permission: "edit", Subject: &pb.SubjectReference{Type: "user", Id: "bob"}},
		{Resource: &pb.ObjectReference{Type: "document", Id: "d1"}, Permission: "edit", Subject: &pb.SubjectReference{Type: "user", Id: "bob"}},
	}}
	if _, err := perms.CheckBulk(as(adminSecret), bulk); err != nil {
		t.Fatal(err)
	}
	stream, err := perms.LookupResources(as(readerSecret), &pb.LookupResourcesRequest{ResourceType: "document", Permission: "view",
		Subject: &pb.SubjectReference{Type: "user", Id: "ann"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := stream.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	ds.flush(t)

	got := ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{})
	if len(got) != 5 {
		t.Fatalf("%d decisions recorded, want 5: %v", len(got), got)
	}
	// Newest first: the lookup, the two bulk items, the denied check, the allowed one.
	lookup, denied, allowed := got[0], got[3], got[4]
	if lookup.GetOperation() != "lookup_resources" || lookup.GetResult() != "allowed" || lookup.GetResults() != 1 || lookup.GetResource().GetType() != "document" {
		t.Errorf("lookup decision: %v", lookup)
	}
	if got[1].GetOperation() != "check_bulk" || got[1].GetPrincipal() != "admin" || got[2].GetOperation() != "check_bulk" {
		t.Errorf("bulk decisions: %v %v", got[1], got[2])
	}
	if denied.GetResult() != "denied" || denied.GetResource().GetId() != "d2" || len(denied.GetPath()) != 0 {
		t.Errorf("denied decision: %v", denied)
	}
	if allowed.GetOperation() != "check" || allowed.GetPrincipal() != "reader" || allowed.GetTenant() != "default" ||
		allowed.GetResource().GetId() != "d1" || allowed.GetPermission() != "view" || allowed.GetSubject().GetId() != "ann" ||
		allowed.GetResult() != "allowed" || allowed.GetToken() != res.GetToken() || allowed.GetDecidedAt() == nil {
		t.Errorf("allowed decision: %v (check token %s)", allowed, res.GetToken())
	}
	wantPath := []string{"document:d1#viewer@group:eng#member", "group:eng#member@user:ann"}
	if len(allowed.GetPath()) != len(wantPath) || allowed.GetPath()[0] != wantPath[0] || allowed.GetPath()[1] != wantPath[1] {
		t.Errorf("granting path %v, want %v", allowed.GetPath(), wantPath)
	}

	// Query filters.
	if n := len(ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{Subject: &pb.ObjectReference{Type: "user", Id: "bob"}})); n != 2 {
		t.Errorf("subject user:bob: %d decisions, want 2", n)
	}
	if n := len(ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{Result: "denied"})); n != 2 {
		t.Errorf("result denied: %d decisions, want 2", n)
	}
	if n := len(ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{Resource: &pb.ObjectReference{Type: "document", Id: "d1"}, Permission: "view"})); n != 1 {
		t.Errorf("document:d1 view: %d decisions, want 1", n)
	}
	if n := len(ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{Since: timestamppb.New(time.Now().Add(time.Hour))})); n != 0 {
		t.Errorf("since in an hour: %d decisions", n)
	}
	// Paging one at a time returns the same decisions in the same order.
	paged := ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{PageSize: 1})
	for i := range got {
		if i >= len(paged) || paged[i].GetOperation() != got[i].GetOperation() || paged[i].GetDecidedAt().AsTime() != got[i].GetDecidedAt().AsTime() {
			t.Fatalf("paged decisions differ at %d: %v vs %v", i, paged, got)
		}
	}
	if len(paged) != len(got) {
		t.Fatalf("paged %d decisions, want %d", len(paged), len(got))
	}
	// Bad input.
	_, err = ds.audit().ReadDecisions(as(adminSecret), &pb.ReadDecisionsRequest{Result: "maybe"})
	wantCode(t, err, codes.InvalidArgument, "result", "maybe")
	_, err = ds.audit().ReadDecisions(as(adminSecret), &pb.ReadDecisionsRequest{PageToken: "nope"})
	wantCode(t, err, codes.InvalidArgument, "page_token")
	// REST.
	code, body := ds.rest(t, "POST", "/v1/audit/decisions", adminSecret, `{"subject":{"type":"user","id":"ann"},"result":"allowed"}`)
	if code != http.StatusOK {
		t.Fatalf("REST: %d %v", code, body)
	}
	if list, _ := body["decisions"].([]any); len(list) != 2 {
		t.Errorf("REST ann allowed: %v", body)
	}
}

func TestDecisionLogSamplingAndFilters(t *testing.T) {
	// Sampling 0 with denied at 1: only refusals are kept.
	ds := startDecisionServer(t, memory.New(datastore.Options{}), decisionlog.Config{SampleRate: 0, DeniedSampleRate: 1}, true)
	seedDocs(t, ds.testServer, "")
	for range 10 {
		ds.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:ann"))
		ds.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:zed"))
	}
	ds.flush(t)
	got := ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{})
	if len(got) != 10 {
		t.Fatalf("%d decisions, want the 10 denied ones", len(got))
	}
	for _, d := range got {
		if d.GetResult() != "denied" {
			t.Fatalf("sampling 0 kept %v", d)
		}
	}

	// Filters by resource type and permission.
	ds = startDecisionServer(t, memory.New(datastore.Options{}), decisionlog.Config{SampleRate: 1, DeniedSampleRate: 1,
		ResourceTypes: []string{"document"}, Permissions: []string{"edit"}}, true)
	seedDocs(t, ds.testServer, "")
	ds.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:ann"))
	ds.permissions().Check(as(readerSecret), checkReq("", "document:d2", "edit", "user:bob"))
	ds.permissions().Check(as(readerSecret), checkReq("", "group:eng", "member", "user:ann"))
	ds.flush(t)
	got = ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{})
	if len(got) != 1 || got[0].GetPermission() != "edit" {
		t.Fatalf("filtered log: %v", got)
	}

	// Bad configuration is refused.
	if _, err := decisionlog.New(decisionlog.Config{SampleRate: 2}, memory.New(datastore.Options{}), nil); err == nil {
		t.Error("a sample rate of 2 was accepted")
	}
	if _, err := decisionlog.New(decisionlog.Config{Results: []string{"yes"}}, memory.New(datastore.Options{}), nil); err == nil {
		t.Error("a result filter of yes was accepted")
	}
}

func TestDecisionLogRetention(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	ds := startDecisionServer(t, memory.New(datastore.Options{}), decisionlog.Config{SampleRate: 1, DeniedSampleRate: 1, Retention: time.Hour, Now: clock}, true)
	seedDocs(t, ds.testServer, "")
	for range 3 {
		ds.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:ann"))
	}
	ds.flush(t)
	if n := len(ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{})); n != 3 {
		t.Fatalf("%d decisions before the retention, want 3", n)
	}
	now.Add(int64(2 * time.Hour))
	ds.permissions().Check(as(readerSecret), checkReq("", "document:d2", "edit", "user:bob"))
	ds.flush(t) // applies the retention
	got := ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{})
	if len(got) != 1 || got[0].GetResource().GetId() != "d2" {
		t.Fatalf("after the retention: %v, want only the new decision", got)
	}
}

// TestDecisionLogOverload fills a tiny queue whose writer is not running: every
// Check is still answered, and the decisions that did not fit are counted.
func TestDecisionLogOverload(t *testing.T) {
	ds := startDecisionServer(t, memory.New(datastore.Options{}), decisionlog.Config{SampleRate: 1, DeniedSampleRate: 1, QueueSize: 2}, false)
	seedDocs(t, ds.testServer, "")
	const burst = 200
	var wg sync.WaitGroup
	var answered atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range burst / 8 {
				if _, err := ds.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:ann")); err == nil {
					answered.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if answered.Load() != burst {
		t.Fatalf("%d of %d checks answered", answered.Load(), burst)
	}
	resp, err := http.Get(ds.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^pemba_decision_log_dropped_total (\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no pemba_decision_log_dropped_total in /metrics")
	}
	if n, _ := strconv.Atoi(string(m[1])); n != burst-2 {
		t.Fatalf("dropped %d decisions, want %d (the queue holds 2)", n, burst-2)
	}
}

func TestDecisionLogTenantIsolation(t *testing.T) {
	ds := startDecisionServer(t, memory.New(datastore.Options{}), decisionlog.Config{SampleRate: 1, DeniedSampleRate: 1}, true)
	for _, name := range []string{"tenant-a", "tenant-b"} {
		if _, err := ds.tenants().CreateTenant(as(adminSecret), &pb.CreateTenantRequest{Tenant: name}); err != nil {
			t.Fatal(err)
		}
		seedDocs(t, ds.testServer, name)
	}
	for range 3 {
		ds.permissions().Check(as(adminSecret), checkReq("tenant-a", "document:d1", "view", "user:ann"))
		ds.permissions().Check(as(adminSecret), checkReq("tenant-b", "document:d1", "view", "user:ann"))
	}
	ds.flush(t)

	all := ds.decisions(t, adminSecret, &pb.ReadDecisionsRequest{AllTenants: true, PageSize: 2})
	count := map[string]int{}
	for _, d := range all {
		count[d.GetTenant()]++
	}
	if count["tenant-a"] != 3 || count["tenant-b"] != 3 || len(count) != 2 {
		t.Fatalf("admin across tenants: %v", count)
	}
	for _, secret := range []string{tenantASecret, tenantAdmin} {
		own := ds.decisions(t, secret, &pb.ReadDecisionsRequest{AllTenants: true, PageSize: 1})
		if len(own) != 3 {
			t.Fatalf("tenant-a key: %d decisions, want 3", len(own))
		}
		for _, d := range own {
			if d.GetTenant() != "tenant-a" {
				t.Fatalf("tenant-a key read a decision of %s", d.GetTenant())
			}
		}
	}
	_, err := ds.audit().ReadDecisions(as(tenantASecret), &pb.ReadDecisionsRequest{Tenant: "tenant-b"})
	wantCode(t, err, codes.PermissionDenied, "tenant-b")
	_, err = ds.audit().ReadDecisions(as(tenantASecret), &pb.ReadDecisionsRequest{AllTenants: true, Tenants: []string{"tenant-b"}})
	wantCode(t, err, codes.PermissionDenied, "tenant-b")
	_, err = ds.audit().ReadDecisions(as(tenantASecret), &pb.ReadDecisionsRequest{})
	wantCode(t, err, codes.PermissionDenied, "default")
	code, body := ds.rest(t, "POST", "/v1/audit/decisions", tenantASecret, `{"all_tenants":true}`)
	if list, _ := body["decisions"].([]any); code != http.StatusOK || len(list) != 3 {
		t.Fatalf("REST tenant-a key: %d %v", code, body)
	}
}

func TestDecisionLogOff(t *testing.T) {
	ts := startServer(t, nil)
	_, err := ts.audit().ReadDecisions(as(adminSecret), &pb.ReadDecisionsRequest{})
	wantCode(t, err, codes.FailedPrecondition, "--decision-log")
}

// BenchmarkCheckDecisionLog measures Check through the real gRPC server with the
// decision log off, and on with every decision logged into a bolt store by the
// running writer (as `pemba serve --decision-log` does).
func BenchmarkCheckDecisionLog(b *testing.B) {
	req := &pb.CheckRequest{Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "bob"}}
	run := func(b *testing.B, ts *testServer) {
		setupBench(b, ts)
		ctx := as(readerSecret)
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
	b.Run("off", func(b *testing.B) {
		run(b, startServerOn(b, benchBolt(b), false, quietLogs))
	})
	b.Run("every-decision", func(b *testing.B) {
		ds := benchBolt(b)
		l, err := decisionlog.New(decisionlog.Config{Enabled: true, SampleRate: 1, DeniedSampleRate: 1}, ds.(datastore.DecisionStore), nil)
		if err != nil {
			b.Fatal(err)
		}
		ts := startServerOn(b, ds, false, func(c *server.Config) { quietLogs(c); c.DecisionLog = l })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); l.Run(ctx) }()
		b.Cleanup(func() { cancel(); <-done })
		run(b, ts)
	})
}

func benchBolt(b *testing.B) datastore.Datastore {
	ds, err := bolt.Open(b.TempDir(), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return ds
}

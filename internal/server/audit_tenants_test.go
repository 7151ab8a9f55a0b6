package server_test

import (
	"net/http"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// crossTenantFixture makes tenant-a and tenant-b with interleaved writes next to the
// default tenant, and returns each tenant's own audit trail, newest first.
func crossTenantFixture(t *testing.T, ts *testServer) map[string][]string {
	t.Helper()
	for _, name := range []string{"tenant-a", "tenant-b"} {
		if _, err := ts.tenants().CreateTenant(as(adminSecret), &pb.CreateTenantRequest{Tenant: name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"tenant-a", "tenant-b", ""} {
		ts.writeSchema(t, name)
	}
	for _, r := range []string{"d1", "d2", "d3"} {
		ts.touch(t, "tenant-a", "document:"+r+"#viewer@user:ann")
		ts.touch(t, "tenant-b", "document:"+r+"#viewer@user:bob")
	}
	ts.touch(t, "", "document:d9#viewer@user:cat")
	own := map[string][]string{}
	for _, name := range []string{"tenant-a", "tenant-b", "default"} {
		res, err := ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{Tenant: name})
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range res.GetTransactions() {
			if tx.GetTenant() != name {
				t.Fatalf("single-tenant read of %s labels a transaction %q", name, tx.GetTenant())
			}
			own[name] = append(own[name], tx.GetToken())
		}
	}
	return own
}

// readAllTenants pages through an all_tenants query and returns the transactions in
// the order they came.
func readAllTenants(t *testing.T, ts *testServer, secret string, req *pb.ReadAuditLogRequest, between func()) []*pb.Transaction {
	t.Helper()
	var got []*pb.Transaction
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		res, err := ts.audit().ReadAuditLog(as(secret), req)
		if err != nil {
			t.Fatalf("ReadAuditLog(%v): %v", req, err)
		}
		if res.GetToken() != "" {
			t.Errorf("an all_tenants page carries the head token %q of some tenant", res.GetToken())
		}
		got = append(got, res.GetTransactions()...)
		if res.GetNextPageToken() == "" {
			return got
		}
		req.PageToken = res.GetNextPageToken()
		if between != nil {
			between()
		}
	}
}

func TestReadAuditLogAcrossTenants(t *testing.T) {
	ts := startServer(t, nil)
	own := crossTenantFixture(t, ts)

	// Pages of two, with a write landing between pages: the query reads the set fixed
	// by its first page, each transaction once, labelled, newest first.
	late := false
	got := readAllTenants(t, ts, adminSecret, &pb.ReadAuditLogRequest{AllTenants: true, PageSize: 2}, func() {
		if !late {
			late = true
			ts.touch(t, "tenant-a", "document:late#viewer@user:ann")
		}
	})
	perTenant := map[string][]string{}
	seen := map[string]bool{}
	for i, tx := range got {
		key := tx.GetTenant() + "/" + tx.GetToken()
		if seen[key] {
			t.Errorf("transaction %s returned twice", key)
		}
		seen[key] = true
		perTenant[tx.GetTenant()] = append(perTenant[tx.GetTenant()], tx.GetToken())
		if i > 0 {
			prev := got[i-1]
			if tx.GetCommittedAt().AsTime().After(prev.GetCommittedAt().AsTime()) {
				t.Errorf("entry %d (%s) is newer than the one before it (%s)", i, tx.GetCommittedAt().AsTime(), prev.GetCommittedAt().AsTime())
			}
		}
	}
	for name, want := range own {
		if !slices.Equal(perTenant[name], want) {
			t.Errorf("tenant %s across tenants: %v, want its own trail %v", name, perTenant[name], want)
		}
	}
	if len(perTenant) != len(own) {
		t.Errorf("tenants seen %v, want %v", keysOf(perTenant), keysOf(own))
	}

	// Narrowed to some tenants.
	got = readAllTenants(t, ts, adminSecret, &pb.ReadAuditLogRequest{AllTenants: true, Tenants: []string{"tenant-b"}}, nil)
	for _, tx := range got {
		if tx.GetTenant() != "tenant-b" {
			t.Errorf("tenants [tenant-b] returned a transaction of %s", tx.GetTenant())
		}
	}
	if len(got) != len(own["tenant-b"]) {
		t.Errorf("tenants [tenant-b]: %d transactions, want %d", len(got), len(own["tenant-b"]))
	}
	// Filters apply as in one tenant: bob's transactions are tenant-b's writes.
	got = readAllTenants(t, ts, adminSecret, &pb.ReadAuditLogRequest{AllTenants: true, Subject: &pb.ObjectReference{Type: "user", Id: "bob"}}, nil)
	if len(got) != 3 {
		t.Errorf("subject user:bob across tenants: %d transactions, want 3", len(got))
	}
}

func TestReadAuditLogAcrossTenantsIsolation(t *testing.T) {
	ts := startServer(t, nil)
	own := crossTenantFixture(t, ts)

	// A key limited to tenant-a asking for every tenant sees exactly tenant-a.
	for _, secret := range []string{tenantASecret, tenantAdmin} {
		got := readAllTenants(t, ts, secret, &pb.ReadAuditLogRequest{AllTenants: true, PageSize: 1}, nil)
		for _, tx := range got {
			if tx.GetTenant() != "tenant-a" {
				t.Fatalf("a tenant-a key read a transaction of %s", tx.GetTenant())
			}
		}
		if len(got) != len(own["tenant-a"]) {
			t.Errorf("tenant-a key: %d transactions, want %d", len(got), len(own["tenant-a"]))
		}
	}
	// Naming a tenant it lacks is refused, naming the tenant.
	_, err := ts.audit().ReadAuditLog(as(tenantASecret), &pb.ReadAuditLogRequest{AllTenants: true, Tenants: []string{"tenant-a", "tenant-b", "default"}})
	wantCode(t, err, codes.PermissionDenied, "tenant-b,default", "limited to tenant-a")
	// An admin's page token, which names tenant-b, cannot widen a tenant-a key's read.
	res, err := ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{AllTenants: true, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.audit().ReadAuditLog(as(tenantASecret), &pb.ReadAuditLogRequest{AllTenants: true, PageToken: res.GetNextPageToken()})
	wantCode(t, err, codes.InvalidArgument, "page_token", "tenant-b")
	// Nor can a single-tenant token, or garbage.
	_, err = ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{AllTenants: true, PageToken: res.GetTransactions()[0].GetToken()})
	wantCode(t, err, codes.InvalidArgument, "page_token")

	// Malformed combinations.
	_, err = ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{AllTenants: true, Tenant: "tenant-a"})
	wantCode(t, err, codes.InvalidArgument, "tenant", "all_tenants")
	_, err = ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{Tenants: []string{"tenant-a"}})
	wantCode(t, err, codes.InvalidArgument, "tenants", "all_tenants")
	_, err = ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{AllTenants: true, Tenants: []string{"Bad Name"}})
	wantCode(t, err, codes.InvalidArgument, "tenants")
	_, err = ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{AllTenants: true, Tenants: []string{"nope"}})
	wantCode(t, err, codes.NotFound, "nope")

	// REST: the same rule over the gateway.
	code, body := ts.rest(t, "POST", "/v1/audit/read", tenantASecret, `{"all_tenants":true}`)
	if code != http.StatusOK {
		t.Fatalf("REST all_tenants as tenant-a: %d %v", code, body)
	}
	txs, _ := body["transactions"].([]any)
	if len(txs) != len(own["tenant-a"]) {
		t.Errorf("REST tenant-a key: %d transactions, want %d", len(txs), len(own["tenant-a"]))
	}
	for _, tx := range txs {
		if tenant := tx.(map[string]any)["tenant"]; tenant != "tenant-a" {
			t.Errorf("REST tenant-a key read a transaction of %v", tenant)
		}
	}
	code, body = ts.rest(t, "POST", "/v1/audit/read", adminSecret, `{"all_tenants":true}`)
	if code != http.StatusOK {
		t.Fatalf("REST all_tenants as admin: %d %v", code, body)
	}
	tenants := map[any]int{}
	txs, _ = body["transactions"].([]any)
	for _, tx := range txs {
		tenants[tx.(map[string]any)["tenant"]]++
	}
	for name, want := range own {
		if tenants[name] != len(want) {
			t.Errorf("REST admin: %d transactions of %s, want %d", tenants[name], name, len(want))
		}
	}
	code, body = ts.rest(t, "POST", "/v1/audit/read", tenantASecret, `{"all_tenants":true,"tenants":["tenant-b"]}`)
	wantHTTPError(t, code, body, http.StatusForbidden, codes.PermissionDenied, "tenant-b")
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

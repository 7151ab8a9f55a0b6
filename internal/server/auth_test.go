package server_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestAuthentication(t *testing.T) {
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	cases := []struct {
		name     string
		header   string // full authorization header; "" sends none
		wantCode codes.Code
		fragment string
	}{
		{"missing", "", codes.Unauthenticated, "missing bearer token"},
		{"wrong key", "Bearer not-a-key", codes.Unauthenticated, "matches no preshared key"},
		{"wrong scheme", "Basic " + adminSecret, codes.Unauthenticated, "malformed authorization header"},
		{"empty bearer", "Bearer ", codes.Unauthenticated, "malformed authorization header"},
		{"admin", "Bearer " + adminSecret, codes.OK, ""},
		{"reader", "bearer " + readerSecret, codes.OK, ""},
	}
	for _, c := range cases {
		t.Run(c.name+"/grpc", func(t *testing.T) {
			ctx := context.Background()
			if c.header != "" {
				ctx = metadataCtx(c.header)
			}
			_, err := ts.permissions().Check(ctx, checkReq("", "document:d1", "view", "user:alice"))
			if c.wantCode == codes.OK {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			wantCode(t, err, c.wantCode, c.fragment)
		})
		t.Run(c.name+"/rest", func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.base+"/v1/permissions/check", strings.NewReader(
				`{"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"alice"}}`))
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusOK
			if c.wantCode == codes.Unauthenticated {
				want = http.StatusUnauthorized
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
			if resp.StatusCode != want {
				t.Fatalf("status %d, want %d", resp.StatusCode, want)
			}
		})
	}
	// The body of a REST 401 carries the gRPC code and message.
	code, body := ts.rest(t, "POST", "/v1/permissions/check", "", `{}`)
	wantHTTPError(t, code, body, http.StatusUnauthorized, codes.Unauthenticated, "missing bearer token")
	// Secrets never reach the log.
	for _, secret := range []string{adminSecret, readerSecret, "not-a-key"} {
		if strings.Contains(ts.logs.String(), secret) {
			t.Errorf("the log contains the secret %q", secret)
		}
	}
	if !strings.Contains(ts.logs.String(), "principal=reader") {
		t.Errorf("the request log does not name the key: %s", ts.logs.String())
	}
}

func TestTenantLimitedKey(t *testing.T) {
	ts := startServer(t, nil)
	for _, name := range []string{"tenant-a", "tenant-b"} {
		if _, err := ts.tenants().CreateTenant(as(adminSecret), &pb.CreateTenantRequest{Tenant: name}); err != nil {
			t.Fatal(err)
		}
		ts.writeSchema(t, name)
	}
	// Its own tenant: allowed.
	if _, err := ts.permissions().Check(as(tenantASecret), checkReq("tenant-a", "document:d1", "view", "user:alice")); err != nil {
		t.Fatalf("own tenant: %v", err)
	}
	// Another tenant, or the default one: denied.
	_, err := ts.permissions().Check(as(tenantASecret), checkReq("tenant-b", "document:d1", "view", "user:alice"))
	wantCode(t, err, codes.PermissionDenied, `may not use tenant "tenant-b"`)
	_, err = ts.permissions().Check(as(tenantASecret), checkReq("", "document:d1", "view", "user:alice"))
	wantCode(t, err, codes.PermissionDenied, `tenant "default"`)

	// Streams are checked too.
	stream, err := ts.relationships().ReadRelationships(as(tenantASecret), &pb.ReadRelationshipsRequest{Tenant: "tenant-b", Filter: &pb.RelationshipFilter{ResourceType: "document"}})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.PermissionDenied, "tenant-b")

	code, body := ts.rest(t, "POST", "/v1/permissions/check", tenantASecret,
		`{"tenant":"tenant-b","resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"alice"}}`)
	wantHTTPError(t, code, body, http.StatusForbidden, codes.PermissionDenied, "tenant-b")

	// A key limited to tenants cannot manage tenants, even an admin key.
	_, err = ts.tenants().ListTenants(as(tenantAdmin), &pb.ListTenantsRequest{})
	wantCode(t, err, codes.PermissionDenied, "limited to tenants")
	_, err = ts.tenants().CreateTenant(as(tenantAdmin), &pb.CreateTenantRequest{Tenant: "tenant-c"})
	wantCode(t, err, codes.PermissionDenied, "limited to tenants")
	// But it administers its own tenant.
	ts.writeSchemaAs(t, tenantAdmin, "tenant-a")
}

func (ts *testServer) writeSchemaAs(t *testing.T, secret, tenant string) {
	t.Helper()
	text, err := os.ReadFile("testdata/docs.zed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.schemas().WriteSchema(as(secret), &pb.WriteSchemaRequest{Tenant: tenant, Schema: string(text)}); err != nil {
		t.Fatalf("WriteSchema as %s: %v", secret, err)
	}
}

func TestRoles(t *testing.T) {
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	write := &pb.WriteRelationshipsRequest{Updates: []*pb.RelationshipUpdate{{
		Operation:    pb.RelationshipUpdate_OPERATION_TOUCH,
		Relationship: protoconv.RelationshipToProto(mustParse("document:d1#viewer@user:bob")),
	}}}

	_, err := ts.relationships().WriteRelationships(as(readerSecret), write)
	wantCode(t, err, codes.PermissionDenied, `key "reader" has role reader and may not write`)
	code, body := ts.rest(t, "POST", "/v1/relationships/write", readerSecret,
		`{"updates":[{"operation":"OPERATION_TOUCH","relationship":{"resource":{"type":"document","id":"d1"},"relation":"viewer","subject":{"type":"user","id":"bob"}}}]}`)
	wantHTTPError(t, code, body, http.StatusForbidden, codes.PermissionDenied, "may not write")

	_, err = ts.schemas().WriteSchema(as(readerSecret), &pb.WriteSchemaRequest{Schema: "definition user {}"})
	wantCode(t, err, codes.PermissionDenied, "needs an admin key")
	_, err = ts.tenants().CreateTenant(as(readerSecret), &pb.CreateTenantRequest{Tenant: "x1"})
	wantCode(t, err, codes.PermissionDenied, "needs an admin key")
	_, err = ts.governance().Offboard(as(readerSecret), &pb.OffboardRequest{Subject: &pb.SubjectReference{Type: "user", Id: "bob"}, Reason: "left"})
	wantCode(t, err, codes.PermissionDenied, "may not write")

	// A delegate writes only with an acting subject.
	_, err = ts.relationships().WriteRelationships(as(delegateSecret), write)
	wantCode(t, err, codes.PermissionDenied, "only write on behalf of an acting subject")
	_, err = ts.relationships().DeleteRelationships(as(delegateSecret), &pb.DeleteRelationshipsRequest{Filter: &pb.RelationshipFilter{ResourceType: "document"}})
	wantCode(t, err, codes.PermissionDenied, "only write on behalf of an acting subject")
	code, body = ts.rest(t, "POST", "/v1/relationships/write", delegateSecret,
		`{"updates":[{"operation":"OPERATION_TOUCH","relationship":{"resource":{"type":"document","id":"d1"},"relation":"viewer","subject":{"type":"user","id":"bob"}}}]}`)
	wantHTTPError(t, code, body, http.StatusForbidden, codes.PermissionDenied, "acting subject")
	imp, err := ts.relationships().ImportRelationships(as(delegateSecret))
	if err == nil {
		_, err = imp.CloseAndRecv()
	}
	wantCode(t, err, codes.PermissionDenied, "needs an admin key")

	// With an actor the write reaches the write path, which authorises it against the
	// schema's grant rules: document#viewer has no rule, so it is denied there.
	withActor := &pb.WriteRelationshipsRequest{Updates: write.Updates, Actor: &pb.SubjectReference{Type: "user", Id: "carol"}}
	_, err = ts.relationships().WriteRelationships(as(delegateSecret), withActor)
	wantCode(t, err, codes.PermissionDenied, "user:carol")
	// An organisation admin may add members through the grant rule (with an expiry).
	ts.touch(t, "", "organization:acme#admin@user:carol")
	grant := &pb.WriteRelationshipsRequest{
		Updates: []*pb.RelationshipUpdate{{
			Operation:    pb.RelationshipUpdate_OPERATION_TOUCH,
			Relationship: protoconv.RelationshipToProto(mustParse("organization:acme#member@user:dave[expiration:2099-01-01T00:00:00Z]")),
		}},
		Actor:  &pb.SubjectReference{Type: "user", Id: "carol"},
		Reason: "onboarding",
	}
	_, err = ts.relationships().WriteRelationships(as(delegateSecret), grant)
	wantCode(t, err, codes.PermissionDenied, "expire within")
	grant.Updates[0].Relationship = protoconv.RelationshipToProto(mustParse("organization:acme#member@user:dave"))
	grant.Updates[0].Relationship.ExpiresAt = nil
	_, err = ts.relationships().WriteRelationships(as(delegateSecret), grant)
	wantCode(t, err, codes.PermissionDenied, "expire within")

	// Reads are open to every role.
	for _, secret := range []string{adminSecret, readerSecret, delegateSecret} {
		if _, err := ts.schemas().ReadSchema(as(secret), &pb.ReadSchemaRequest{}); err != nil {
			t.Errorf("ReadSchema as %s: %v", secret, err)
		}
		if _, err := ts.audit().ReadAuditLog(as(secret), &pb.ReadAuditLogRequest{}); err != nil {
			t.Errorf("ReadAuditLog as %s: %v", secret, err)
		}
	}
}

func TestHealthAndReflectionNeedNoKey(t *testing.T) {
	ts := startServer(t, nil)
	resp, err := healthpb.NewHealthClient(ts.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, ","), "pemba.v1.PermissionService") {
		t.Errorf("reflection lists %v", names)
	}
	code, raw := ts.restRaw(t, "GET", "/healthz", "", "")
	if code != http.StatusOK || strings.TrimSpace(string(raw)) != "ok" {
		t.Errorf("/healthz: %d %s", code, raw)
	}
}

package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestMethodAccessCoversEveryRPC(t *testing.T) {
	var methods []string
	protoregistry.GlobalFiles.RangeFilesByPackage("pemba.v1", func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() != "pemba.v1" {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				methods = append(methods, "/"+string(svc.FullName())+"/"+string(svc.Methods().Get(j).Name()))
			}
		}
		return true
	})
	if len(methods) < 20 {
		t.Fatalf("found only %d RPCs in pemba.v1: %v", len(methods), methods)
	}
	for _, m := range methods {
		if _, ok := methodAccess[m]; !ok {
			t.Errorf("RPC %s has no entry in methodAccess", m)
		}
	}
	if len(methodAccess) != len(methods) {
		t.Errorf("methodAccess has %d entries, the API %d RPCs", len(methodAccess), len(methods))
	}
}

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

func TestParseKeyFlag(t *testing.T) {
	cases := []struct {
		in      string
		name    string
		role    Role
		tenants string
		secret  string
		err     string
	}{
		{in: "s3cret", name: "preshared-key-1", role: RoleAdmin, secret: "s3cret"},
		{in: "portal:reader:abc", name: "portal", role: RoleReader, secret: "abc"},
		{in: "ops:delegate@acme,globex:a:b:c", name: "ops", role: RoleDelegate, tenants: "acme,globex", secret: "a:b:c"},
		{in: "x:y", err: "neither SECRET nor"},
		{in: "portal:root:abc", err: `role "root" is not one of`},
		{in: "portal:reader@Bad!:abc", err: "tenant name"},
		{in: "portal:reader:", err: "empty secret"},
		{in: "", err: "empty"},
	}
	for _, c := range cases {
		k, err := ParseKeyFlag(c.in, 0)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseKeyFlag(%q) error %v, want %q", c.in, err, c.err)
			}
			if err != nil && c.in != "" && strings.Contains(err.Error(), "abc") {
				t.Errorf("error %q quotes the secret", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKeyFlag(%q): %v", c.in, err)
			continue
		}
		if k.Name != c.name || k.Role != c.role || strings.Join(k.Tenants, ",") != c.tenants || k.Digest != sha256.Sum256([]byte(c.secret)) {
			t.Errorf("ParseKeyFlag(%q) = %+v", c.in, k)
		}
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	sum := sha256.Sum256([]byte("hashed-secret"))
	yamlFile := filepath.Join(dir, "keys.yaml")
	os.WriteFile(yamlFile, []byte(`keys:
  - name: backend
    role: reader
    key: plain-secret
    tenants: [acme]
  - name: ops
    role: admin
    sha256: `+hex.EncodeToString(sum[:])+`
`), 0o600)
	keys, err := LoadKeyFile(yamlFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Name != "backend" || keys[0].Role != RoleReader || keys[0].Tenants[0] != "acme" ||
		keys[0].Digest != sha256.Sum256([]byte("plain-secret")) || keys[1].Digest != sum {
		t.Fatalf("keys = %+v", keys)
	}
	a := &authenticator{keys: keys}
	k, err := a.authenticate(metadataCtxIncoming("Bearer hashed-secret"))
	if err != nil || k.Name != "ops" {
		t.Fatalf("authenticate with the hashed key: %v %v", k, err)
	}

	jsonFile := filepath.Join(dir, "keys.json")
	os.WriteFile(jsonFile, []byte(`{"keys":[{"name":"ci","role":"delegate","key":"k"}]}`), 0o600)
	if keys, err := LoadKeyFile(jsonFile); err != nil || keys[0].Role != RoleDelegate {
		t.Fatalf("JSON key file: %v %v", keys, err)
	}

	bad := []struct{ body, err string }{
		{`keys: [{name: a, role: admin}]`, "needs key or sha256"},
		{`keys: [{name: a, role: admin, key: x, sha256: ab}]`, "either key or sha256"},
		{`keys: [{name: a, role: admin, sha256: xyz}]`, "64 hex"},
		{`keys: [{name: a, role: boss, key: x}]`, "not one of"},
		{`keys: [{name: a, role: admin, key: x, tenant: [b]}]`, "field tenant not found"},
		{`other: 1`, "field other not found"},
		{`keys: []`, "has no keys"},
	}
	for _, b := range bad {
		f := filepath.Join(dir, "bad.yaml")
		os.WriteFile(f, []byte(b.body), 0o600)
		if _, err := LoadKeyFile(f); err == nil || !strings.Contains(err.Error(), b.err) {
			t.Errorf("LoadKeyFile(%q) error %v, want %q", b.body, err, b.err)
		}
	}
	if err := ValidateKeys([]Key{NewKey("a", RoleAdmin, nil, "x"), NewKey("b", RoleAdmin, nil, "x")}); err == nil {
		t.Error("two keys with one secret were accepted")
	}
	if err := ValidateKeys([]Key{NewKey("a", RoleAdmin, nil, "x"), NewKey("a", RoleAdmin, nil, "y")}); err == nil {
		t.Error("two keys with one name were accepted")
	}
}

package server_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// b2bTransport drives the governance scenarios over one transport.
type b2bTransport interface {
	name() string
	// call sends req to the unary method and decodes the answer into resp; it
	// returns the gRPC code and message of a failure.
	call(t *testing.T, secret, method string, req, resp proto.Message) (codes.Code, string)
}

type grpcTransport struct{ ts *testServer }

func (grpcTransport) name() string { return "grpc" }

func (g grpcTransport) call(t *testing.T, secret, method string, req, resp proto.Message) (codes.Code, string) {
	t.Helper()
	err := g.ts.conn.Invoke(as(secret), method, req, resp)
	st := status.Convert(err)
	return st.Code(), st.Message()
}

type restTransport struct{ ts *testServer }

func (restTransport) name() string { return "rest" }

// restRoutes maps the methods the scenarios use to their REST routes.
var restRoutes = map[string]string{
	"/pemba.v1.RelationshipService/WriteRelationships":  "/v1/relationships/write",
	"/pemba.v1.RelationshipService/DeleteRelationships": "/v1/relationships/delete",
	"/pemba.v1.PermissionService/Check":                 "/v1/permissions/check",
	"/pemba.v1.AuditService/ReadAuditLog":               "/v1/audit/read",
	"/pemba.v1.GovernanceService/Offboard":              "/v1/governance/offboard",
}

func (r restTransport) call(t *testing.T, secret, method string, req, resp proto.Message) (codes.Code, string) {
	t.Helper()
	body, err := protojson.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	hreq, err := http.NewRequest(http.MethodPost, r.ts.base+restRoutes[method], bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+secret)
	hresp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer hresp.Body.Close()
	raw, _ := io.ReadAll(hresp.Body)
	if hresp.StatusCode != http.StatusOK {
		var e pb.Error
		if err := protojson.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s: HTTP %d with a body that is not an error: %s", method, hresp.StatusCode, raw)
		}
		if want := httpStatusOf(codes.Code(e.GetCode())); want != hresp.StatusCode {
			t.Errorf("%s: HTTP %d for gRPC code %v, want %d", method, hresp.StatusCode, codes.Code(e.GetCode()), want)
		}
		return codes.Code(e.GetCode()), e.GetMessage()
	}
	if err := protojson.Unmarshal(raw, resp); err != nil {
		t.Fatalf("%s: %v\n%s", method, err, raw)
	}
	return codes.OK, ""
}

func httpStatusOf(c codes.Code) int {
	switch c {
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.InvalidArgument, codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// b2bServer starts a server with the reference B2B schema and an organisation tree:
// brand portal > acme > acme-eu > acme-eu-sales, and acme-us beside acme-eu. eve
// administers acme-eu and holds its billing role; root administers acme.
func b2bServer(t *testing.T) *testServer {
	ts := startServer(t, nil)
	text, err := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.schemas().WriteSchema(as(adminSecret), &pb.WriteSchemaRequest{Schema: string(text)}); err != nil {
		t.Fatal(err)
	}
	ts.touch(t, "",
		"organization:acme#brand@brand:portal",
		"organization:acme-eu#parent@organization:acme",
		"organization:acme-us#parent@organization:acme",
		"organization:acme-eu-sales#parent@organization:acme-eu",
		"organization:acme#admin@user:root",
		"organization:acme-eu#admin@user:eve",
		"organization:acme-eu#billing_manager@user:eve",
		"brand:portal#customer@user:bob",
		"project:eu-plan#owner@organization:acme-eu-sales",
		"project:us-plan#owner@organization:acme-us",
	)
	return ts
}

func delegated(op pb.RelationshipUpdate_Operation, rel, actor, reason string) *pb.WriteRelationshipsRequest {
	sub, err := tuple.ParseSubject(actor)
	if err != nil {
		panic(err)
	}
	return &pb.WriteRelationshipsRequest{
		Updates: []*pb.RelationshipUpdate{{Operation: op, Relationship: protoconv.RelationshipToProto(tuple.MustParse(rel))}},
		Actor:   protoconv.SubjectToProto(sub),
		Reason:  reason,
	}
}

const (
	writeMethod    = "/pemba.v1.RelationshipService/WriteRelationships"
	checkMethod    = "/pemba.v1.PermissionService/Check"
	auditMethod    = "/pemba.v1.AuditService/ReadAuditLog"
	offboardMethod = "/pemba.v1.GovernanceService/Offboard"
)

func b2bCheck(t *testing.T, tr b2bTransport, resource, permission, subject string) pb.Permissionship {
	t.Helper()
	req := checkReq("", resource, permission, subject)
	req.Consistency = &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}
	var resp pb.CheckResponse
	if code, msg := tr.call(t, readerSecret, checkMethod, req, &resp); code != codes.OK {
		t.Fatalf("check %s#%s@%s: %v %s", resource, permission, subject, code, msg)
	}
	return resp.GetPermissionship()
}

// TestDelegatedAdministrationEndToEnd runs the delegated-admin scenario over gRPC and
// REST with a delegate key: what a child organisation's admin may and may not do, and
// that every attempt lands in the audit trail.
func TestDelegatedAdministrationEndToEnd(t *testing.T) {
	for _, mk := range []func(*testServer) b2bTransport{
		func(ts *testServer) b2bTransport { return grpcTransport{ts} },
		func(ts *testServer) b2bTransport { return restTransport{ts} },
	} {
		ts := b2bServer(t)
		tr := mk(ts)
		t.Run(tr.name(), func(t *testing.T) {
			in30d := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
			in200d := time.Now().Add(200 * 24 * time.Hour).UTC().Format(time.RFC3339)
			create := pb.RelationshipUpdate_OPERATION_CREATE
			steps := []struct {
				op   pb.RelationshipUpdate_Operation
				rel  string
				code codes.Code
				want string
			}{
				{create, "organization:acme-eu#member@user:bob", codes.OK, ""},
				{create, "organization:acme-eu-sales#member@user:carol", codes.OK, ""},
				{pb.RelationshipUpdate_OPERATION_DELETE, "organization:acme-eu-sales#member@user:carol", codes.OK, ""},
				{create, "organization:acme-eu-sales#admin@user:dan[expiration:" + in30d + "]", codes.OK, ""},
				{create, "organization:acme-eu-sales#billing_manager@user:fay", codes.OK, ""},
				{create, "organization:acme#member@user:bob", codes.PermissionDenied, "does not satisfy the rule on organization:acme"},
				{create, "organization:acme-us#member@user:bob", codes.PermissionDenied, "organization:acme-us"},
				{create, "organization:acme-eu#app_manager@user:bob", codes.PermissionDenied, "grant app_manager by manage & manage_apps"},
				{create, "organization:acme-eu#admin@user:gil", codes.PermissionDenied, "expire within 90d"},
				{create, "organization:acme-eu#admin@user:gil[expiration:" + in200d + "]", codes.PermissionDenied, "expire within 90d"},
				{create, "organization:acme-eu-sales#parent@organization:acme-us", codes.PermissionDenied, "has no grant rule"},
				{pb.RelationshipUpdate_OPERATION_DELETE, "organization:acme#admin@user:root", codes.PermissionDenied, "organization:acme"},
			}
			for _, s := range steps {
				var resp pb.WriteRelationshipsResponse
				code, msg := tr.call(t, delegateSecret, writeMethod, delegated(s.op, s.rel, "user:eve", "ticket 42"), &resp)
				if code != s.code || !strings.Contains(msg, s.want) {
					t.Errorf("eve %v %s: got %v %q, want %v containing %q", s.op, s.rel, code, msg, s.code, s.want)
				}
				if s.code == codes.PermissionDenied && (!strings.Contains(msg, "user:eve") || !strings.Contains(msg, s.rel[:strings.IndexByte(s.rel, '@')])) {
					t.Errorf("denial %q should name the actor and the update", msg)
				}
			}
			// A delegate key cannot write without an acting subject.
			req := delegated(create, "organization:acme-eu#member@user:hal", "user:eve", "")
			req.Actor = nil
			if code, _ := tr.call(t, delegateSecret, writeMethod, req, &pb.WriteRelationshipsResponse{}); code != codes.PermissionDenied {
				t.Errorf("delegate key without an actor: %v", code)
			}
			if got := b2bCheck(t, tr, "organization:acme-eu", "active_member", "user:bob"); got != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
				t.Errorf("bob after eve added him: %v", got)
			}

			// Every attempt, allowed or denied, is in the audit trail.
			var audit pb.ReadAuditLogResponse
			if code, msg := tr.call(t, readerSecret, auditMethod, &pb.ReadAuditLogRequest{Actor: &pb.SubjectReference{Type: "user", Id: "eve"}, PageSize: 100}, &audit); code != codes.OK {
				t.Fatalf("audit: %v %s", code, msg)
			}
			allowed, denied := 0, 0
			for _, tx := range audit.GetTransactions() {
				md := tx.GetMetadata()
				if md.GetReason() != "ticket 42" || md.GetPrincipal() != "delegate" {
					t.Errorf("audit record without reason or key name: %v", md)
				}
				if md.GetDenied() != nil {
					denied++
					if len(tx.GetChanges()) != 0 || len(md.GetDenied().GetUpdates()) != 1 {
						t.Errorf("denial record %v", tx)
					}
					continue
				}
				allowed++
				if len(md.GetGrants()) != 1 || md.GetGrants()[0].GetRule() == "" || md.GetGrants()[0].GetVia().GetId() != "acme-eu" {
					t.Errorf("grant record of an allowed write: %v", md.GetGrants())
				}
			}
			if allowed != 5 || denied != 7 {
				t.Errorf("audit trail has %d allowed and %d denied attempts by eve, want 5 and 7", allowed, denied)
			}
			// The trail can be queried by organisation too.
			audit.Reset()
			if code, _ := tr.call(t, readerSecret, auditMethod, &pb.ReadAuditLogRequest{Organization: &pb.ObjectReference{Type: "organization", Id: "acme-us"}, PageSize: 100}, &audit); code != codes.OK || len(audit.GetTransactions()) != 2 {
				t.Errorf("audit by organization acme-us: %v", audit.GetTransactions())
			}
		})
	}
}

// TestRevocationRacesDelegatedGrants revokes a delegate's admin right while it grants
// concurrently: no grant may commit after the revocation, and after it every grant is
// refused.
func TestRevocationRacesDelegatedGrants(t *testing.T) {
	ts := b2bServer(t)
	tr := grpcTransport{ts}
	var wg sync.WaitGroup
	type result struct {
		code  codes.Code
		token string
	}
	results := make(chan result, 16)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp pb.WriteRelationshipsResponse
			code, _ := tr.call(t, delegateSecret, writeMethod, delegated(pb.RelationshipUpdate_OPERATION_CREATE, "organization:acme-eu#member@user:m"+string(rune('a'+i)), "user:eve", "race"), &resp)
			results <- result{code, resp.GetToken()}
		}()
	}
	var revoked pb.WriteRelationshipsResponse
	revoke := &pb.WriteRelationshipsRequest{Updates: []*pb.RelationshipUpdate{{
		Operation: pb.RelationshipUpdate_OPERATION_DELETE, Relationship: protoconv.RelationshipToProto(tuple.MustParse("organization:acme-eu#admin@user:eve")),
	}}}
	if code, msg := tr.call(t, adminSecret, writeMethod, revoke, &revoked); code != codes.OK {
		t.Fatal(code, msg)
	}
	wg.Wait()
	close(results)
	revokedRev := tokenRevision(t, ts, revoked.GetToken())
	for r := range results {
		switch r.code {
		case codes.OK:
			if rev := tokenRevision(t, ts, r.token); rev > revokedRev {
				t.Errorf("a grant committed at revision %d, after the revocation at %d", rev, revokedRev)
			}
		case codes.PermissionDenied:
		default:
			t.Errorf("unexpected outcome %v", r.code)
		}
	}
	var resp pb.WriteRelationshipsResponse
	if code, _ := tr.call(t, delegateSecret, writeMethod, delegated(pb.RelationshipUpdate_OPERATION_CREATE, "organization:acme-eu#member@user:zed", "user:eve", "after"), &resp); code != codes.PermissionDenied {
		t.Errorf("grant after the revocation: %v", code)
	}
}

func tokenRevision(t *testing.T, ts *testServer, token string) datastore.Revision {
	t.Helper()
	rev, err := datastore.DecodeToken(token, ts.ds.UniqueID(), tuple.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// TestOffboardingEndToEnd offboards a user from one organisation's subtree over both
// transports and checks that access ends there and nowhere else.
func TestOffboardingEndToEnd(t *testing.T) {
	for _, mk := range []func(*testServer) b2bTransport{
		func(ts *testServer) b2bTransport { return grpcTransport{ts} },
		func(ts *testServer) b2bTransport { return restTransport{ts} },
	} {
		ts := b2bServer(t)
		tr := mk(ts)
		t.Run(tr.name(), func(t *testing.T) {
			ts.touch(t, "",
				"group:eu-team#owner@organization:acme-eu",
				"group:eu-team#member@user:bob",
				"project:eu-plan#viewer@group:eu-team#member",
				"organization:acme-eu-sales#billing_manager@user:bob",
				"project:us-plan#viewer@user:bob",
			)
			if got := b2bCheck(t, tr, "project:eu-plan", "view", "user:bob"); got != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
				t.Fatalf("setup: bob cannot view eu-plan: %v", got)
			}
			var resp pb.OffboardResponse
			req := &pb.OffboardRequest{Subject: &pb.SubjectReference{Type: "user", Id: "bob"}, Organization: &pb.ObjectReference{Type: "organization", Id: "acme-eu"}, Reason: "contract ended"}
			if code, msg := tr.call(t, adminSecret, offboardMethod, req, &resp); code != codes.OK {
				t.Fatal(code, msg)
			}
			if len(resp.GetRemoved()) != 2 {
				t.Errorf("removed %v, want bob's eu-team membership and acme-eu-sales billing role", resp.GetRemoved())
			}
			for _, c := range [][3]string{
				{"project:eu-plan", "view", "user:bob"},
				{"group:eu-team", "member", "user:bob"},
				{"organization:acme-eu-sales", "billing", "user:bob"},
			} {
				if got := b2bCheck(t, tr, c[0], c[1], c[2]); got != pb.Permissionship_PERMISSIONSHIP_DENIED {
					t.Errorf("after offboarding %s#%s@%s = %v", c[0], c[1], c[2], got)
				}
			}
			if got := b2bCheck(t, tr, "project:us-plan", "view", "user:bob"); got != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
				t.Errorf("offboarding from acme-eu removed bob's access in acme-us: %v", got)
			}
			var audit pb.ReadAuditLogResponse
			if code, _ := tr.call(t, readerSecret, auditMethod, &pb.ReadAuditLogRequest{Subject: &pb.ObjectReference{Type: "user", Id: "bob"}, PageSize: 1}, &audit); code != codes.OK ||
				len(audit.GetTransactions()) != 1 || audit.GetTransactions()[0].GetMetadata().GetOperation() != "offboard" || audit.GetTransactions()[0].GetMetadata().GetReason() != "contract ended" {
				t.Errorf("newest audit record about bob: %v", audit.GetTransactions())
			}
		})
	}
}

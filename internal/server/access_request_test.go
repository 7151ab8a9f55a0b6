package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func (ts *testServer) accessRequests() pb.AccessRequestServiceClient {
	return pb.NewAccessRequestServiceClient(ts.conn)
}

func subjectRef(s string) *pb.SubjectReference {
	sub, err := tuple.ParseSubject(s)
	if err != nil {
		panic(err)
	}
	return protoconv.SubjectToProto(sub)
}

// partnerServer is b2bServer with the partner story: project apollo of acme-eu is
// shared with the partner globex, whose admin is gina and whose member is pat.
func partnerServer(t *testing.T) *testServer {
	ts := b2bServer(t)
	ts.touch(t, "",
		"organization:globex#admin@user:gina",
		"organization:globex#member@user:pat",
		"brand:portal#customer@user:pat",
		"project:apollo#owner@organization:acme-eu",
		"project:apollo#partner@organization:globex",
	)
	return ts
}

// patCanView checks the relation itself: pat views apollo anyway, as a member of its partner.
func (ts *testServer) patCanView(t *testing.T) bool {
	t.Helper()
	c := checkReq("", "project:apollo", "partner_viewer", "user:pat")
	c.Consistency = &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}
	resp, err := ts.permissions().Check(as(readerSecret), c)
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_ALLOWED
}

// The partner-onboarding story over gRPC and REST: a partner employee asks for a
// project, an admin of the project's organisation and one of the partner approve,
// and the access follows, with its provenance in the request and the audit trail.
func TestAccessRequestPartnerOnboarding(t *testing.T) {
	ts := partnerServer(t)
	ctx := as(delegateSecret)
	rel := protoconv.RelationshipToProto(tuple.MustParse("project:apollo#partner_viewer@user:pat"))
	org := protoconv.ObjectToProto(tuple.ObjectRef{Type: "organization", ID: "globex"})

	_, err := ts.accessRequests().CreateAccessRequest(ctx, &pb.CreateAccessRequestRequest{Relationship: rel, Organization: org})
	wantCode(t, err, codes.PermissionDenied, "on behalf of an acting subject")
	_, err = ts.accessRequests().CreateAccessRequest(as(readerSecret), &pb.CreateAccessRequestRequest{Actor: subjectRef("user:pat"), Relationship: rel, Organization: org})
	wantCode(t, err, codes.PermissionDenied, "may not write")
	_, err = ts.accessRequests().CreateAccessRequest(ctx, &pb.CreateAccessRequestRequest{Actor: subjectRef("user:pat"), Relationship: rel, Organization: org, Duration: "2200h"})
	wantCode(t, err, codes.InvalidArgument, "exceeds the 90d")

	created, err := ts.accessRequests().CreateAccessRequest(ctx, &pb.CreateAccessRequestRequest{
		Actor: subjectRef("user:pat"), Relationship: rel, Organization: org, Reason: "joint launch", Duration: "720h"})
	if err != nil || !created.GetCreated() || created.GetRequest().GetState() != pb.AccessRequestState_ACCESS_REQUEST_STATE_PENDING {
		t.Fatalf("create: %v %v", created, err)
	}
	id := created.GetRequest().GetId()
	if ts.patCanView(t) {
		t.Fatal("pat can view before any approval")
	}

	// eve's inbox over REST, with a reader key.
	code, body := ts.rest(t, http.MethodPost, "/v1/requests/inbox", readerSecret, `{"actor":{"type":"user","id":"eve"},"filter":{"resource_type":"project"}}`)
	if code != http.StatusOK || len(body["requests"].([]any)) != 1 {
		t.Fatalf("eve's inbox: %d %v", code, body)
	}
	// Pat may not approve his own request.
	_, err = ts.accessRequests().ApproveAccessRequest(ctx, &pb.ApproveAccessRequestRequest{Actor: subjectRef("user:pat"), Id: id, Reason: "me"})
	wantCode(t, err, codes.PermissionDenied, "may not approve its own access")

	one, err := ts.accessRequests().ApproveAccessRequest(ctx, &pb.ApproveAccessRequestRequest{Actor: subjectRef("user:eve"), Id: id, Reason: "acme agrees"})
	if err != nil || one.GetRequest().GetState() != pb.AccessRequestState_ACCESS_REQUEST_STATE_PENDING || len(one.GetRequest().GetApprovals()) != 1 {
		t.Fatalf("eve's approval: %v %v", one, err)
	}
	if ts.patCanView(t) {
		t.Fatal("pat can view after one of two approvals")
	}

	// gina approves over REST; the grant follows.
	code, body = ts.rest(t, http.MethodPost, "/v1/requests/approve", delegateSecret,
		fmt.Sprintf(`{"actor":{"type":"user","id":"gina"},"id":%q,"reason":"globex agrees","duration":"168h"}`, id))
	if code != http.StatusOK {
		t.Fatalf("gina's approval over REST: %d %v", code, body)
	}
	if st := body["request"].(map[string]any)["state"]; st != "ACCESS_REQUEST_STATE_APPROVED" {
		t.Fatalf("state after gina: %v", st)
	}
	if !ts.patCanView(t) {
		t.Fatal("pat cannot view after both approvals")
	}

	// The request keeps the provenance; the audit trail names the approver and reason.
	got, err := ts.accessRequests().GetAccessRequest(as(readerSecret), &pb.GetAccessRequestRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	r := got.GetRequest()
	if r.GetRequester().GetId() != "pat" || r.GetReason() != "joint launch" || len(r.GetApprovals()) != 2 ||
		r.GetApprovals()[0].GetReason() != "acme agrees" || r.GetApprovals()[1].GetApprover().GetId() != "gina" || r.GetGrantExpiresAt() == nil {
		t.Errorf("approved request: %v", r)
	}
	audit, err := ts.audit().ReadAuditLog(as(readerSecret), &pb.ReadAuditLogRequest{Actor: subjectRef("user:gina")})
	if err != nil || len(audit.GetTransactions()) == 0 {
		t.Fatalf("audit: %v %v", audit, err)
	}
	tx := audit.GetTransactions()[0]
	if m := tx.GetMetadata(); m.GetOperation() != "request.approve" || m.GetReason() != "globex agrees" || len(m.GetGrants()) != 1 || len(tx.GetChanges()) != 1 {
		t.Errorf("audit of the grant: %v", tx)
	}

	// The check explanation names the request that granted the access.
	c := checkReq("", "project:apollo", "partner_viewer", "user:pat")
	c.Explain = true
	c.Consistency = &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}
	explained, err := ts.permissions().Check(as(readerSecret), c)
	if err != nil {
		t.Fatal(err)
	}
	if p := findRequestProvenance(explained.GetExplanation()); p == nil || p.GetAccessRequestId() != id || p.GetActor().GetId() != "gina" {
		t.Errorf("explanation provenance of the approved grant: %v", p)
	}
	walkRequestEvents(t, ts, created.GetRequest().GetToken(), id)

	mine, err := ts.accessRequests().ListMyRequests(as(readerSecret), &pb.ListMyRequestsRequest{Actor: subjectRef("user:pat")})
	if err != nil || len(mine.GetRequests()) != 1 || mine.GetRequests()[0].GetId() != id {
		t.Fatalf("pat's requests: %v %v", mine, err)
	}
}

// Adversarial cases, each refused with its code and kept in the audit trail.
func TestAccessRequestAdversarial(t *testing.T) {
	ts := partnerServer(t)
	ctx := as(delegateSecret)
	viewer := protoconv.RelationshipToProto(tuple.MustParse("project:apollo#viewer@user:pat"))
	created, err := ts.accessRequests().CreateAccessRequest(ctx, &pb.CreateAccessRequestRequest{Actor: subjectRef("user:pat"), Relationship: viewer, Reason: "look"})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetRequest().GetId()

	// Approving your own request without the right.
	_, err = ts.accessRequests().ApproveAccessRequest(ctx, &pb.ApproveAccessRequestRequest{Actor: subjectRef("user:pat"), Id: id})
	wantCode(t, err, codes.PermissionDenied, id)
	// Beyond the allowed duration (grant rule: 365d).
	_, err = ts.accessRequests().ApproveAccessRequest(ctx, &pb.ApproveAccessRequestRequest{Actor: subjectRef("user:eve"), Id: id, Duration: "9000h"})
	wantCode(t, err, codes.InvalidArgument, "exceeds the 365d")
	// For another tenant: the id is unknown there.
	if _, err := ts.tenants().CreateTenant(as(adminSecret), &pb.CreateTenantRequest{Tenant: "tenant-a"}); err != nil {
		t.Fatal(err)
	}
	_, err = ts.accessRequests().ApproveAccessRequest(ctx, &pb.ApproveAccessRequestRequest{Tenant: "tenant-a", Actor: subjectRef("user:eve"), Id: id})
	wantCode(t, err, codes.NotFound, id)
	_, err = ts.accessRequests().GetAccessRequest(as(tenantASecret), &pb.GetAccessRequestRequest{Tenant: "default", Id: id})
	wantCode(t, err, codes.PermissionDenied, "may not use tenant")
	// Replaying an approved request.
	if _, err := ts.accessRequests().ApproveAccessRequest(ctx, &pb.ApproveAccessRequestRequest{Actor: subjectRef("user:eve"), Id: id, Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	code, body := ts.rest(t, http.MethodPost, "/v1/requests/approve", delegateSecret, fmt.Sprintf(`{"actor":{"type":"user","id":"root"},"id":%q}`, id))
	wantHTTPError(t, code, body, httpStatusOf(codes.FailedPrecondition), codes.FailedPrecondition, "is approved, not pending")
	// Bad input names the field.
	_, err = ts.accessRequests().ApproveAccessRequest(ctx, &pb.ApproveAccessRequestRequest{Actor: subjectRef("user:eve"), Id: id, Duration: "soon"})
	wantCode(t, err, codes.InvalidArgument, "duration")
	_, err = ts.accessRequests().ListInbox(as(readerSecret), &pb.ListInboxRequest{Actor: subjectRef("user:eve"), PageToken: "garbage"})
	wantCode(t, err, codes.InvalidArgument, "page_token")

	// Each refusal is in the audit trail of its tenant.
	for tenant, want := range map[string]int{"": 2, "tenant-a": 1} {
		n := 0
		for _, actor := range []string{"user:pat", "user:eve", "user:root"} {
			audit, err := ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{Tenant: tenant, Actor: subjectRef(actor)})
			if err != nil {
				t.Fatal(err)
			}
			for _, tx := range audit.GetTransactions() {
				if tx.GetMetadata().GetDenied() != nil {
					n++
				}
			}
		}
		if n < want {
			t.Errorf("tenant %q: %d refusals audited, want at least %d", tenant, n, want)
		}
	}

}

func findRequestProvenance(n *pb.ExplainNode) *pb.Provenance {
	if n == nil {
		return nil
	}
	if p := n.GetProvenance(); p.GetAccessRequestId() != "" {
		return p
	}
	for _, c := range n.GetChildren() {
		if p := findRequestProvenance(c); p != nil {
			return p
		}
	}
	return nil
}

// walkRequestEvents follows Watch after the request was filed: eve's approval leaves
// it pending with one approval, gina's approves it in the transaction that writes the
// relationship.
func walkRequestEvents(t *testing.T, ts *testServer, after, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(as(readerSecret), 10*time.Second)
	defer cancel()
	w, err := ts.watch().Watch(ctx, &pb.WatchRequest{AfterToken: after})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for range 20 {
		resp, err := w.Recv()
		if err != nil {
			t.Fatalf("watch after %v: %v", seen, err)
		}
		tx := resp.GetTransaction()
		for _, e := range tx.GetAccessRequests() {
			if e.GetRequestId() != id {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s/%d", e.GetState(), e.GetApprovals()))
			if e.GetState() == pb.AccessRequestState_ACCESS_REQUEST_STATE_APPROVED {
				if len(tx.GetChanges()) != 1 || tx.GetMetadata().GetOperation() != "request.approve" {
					t.Errorf("the approving transaction: %v", tx)
				}
				if want := []string{"ACCESS_REQUEST_STATE_PENDING/1", "ACCESS_REQUEST_STATE_APPROVED/2"}; fmt.Sprint(seen) != fmt.Sprint(want) {
					t.Errorf("request events %v, want %v", seen, want)
				}
				return
			}
		}
	}
	t.Fatalf("no approval event among %v", seen)
}

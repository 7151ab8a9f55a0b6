package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// A delegated grant is traceable: the check explanation names who granted it, on whose
// behalf and through which organisation; the actor's grants in force list it; the
// access review shows the path.
func TestDelegatedGrantIsTraceable(t *testing.T) {
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	ts.touch(t, "", "organization:acme#admin@user:carol", "document:q3#org@organization:acme",
		"document:q3#viewer@user:dave", "document:q9#viewer@user:dave")

	grant := &pb.WriteRelationshipsRequest{
		Updates: []*pb.RelationshipUpdate{{
			Operation:    pb.RelationshipUpdate_OPERATION_TOUCH,
			Relationship: protoconv.RelationshipToProto(mustParse("organization:acme#member@user:dave")),
		}},
		Actor:  &pb.SubjectReference{Type: "user", Id: "carol"},
		Reason: "new hire",
	}
	grant.Updates[0].Relationship.ExpiresAt = timestamppb.New(time.Now().Add(10 * 24 * time.Hour))
	wr, err := ts.relationships().WriteRelationships(as(delegateSecret), grant)
	if err != nil {
		t.Fatalf("delegated grant: %v", err)
	}
	at := &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: wr.GetToken()}}

	// The explanation names the writer.
	req := checkReq("", "organization:acme", "see", "user:dave")
	req.Consistency, req.Explain = at, true
	resp, err := ts.permissions().Check(as(readerSecret), req)
	if err != nil {
		t.Fatal(err)
	}
	p := findProvenance(resp.GetExplanation(), "organization:acme#member@user:dave")
	if p == nil || p.GetPrincipal() != "delegate" || p.GetActor().GetId() != "carol" || p.GetReason() != "new hire" ||
		p.GetToken() != wr.GetToken() || p.GetVia().GetId() != "acme" || p.GetRule() == "" || p.GetCommittedAt() == nil {
		t.Errorf("provenance = %v", p)
	}

	// The actor's grants in force.
	grants, err := ts.governance().ListActorGrants(as(readerSecret), &pb.ListActorGrantsRequest{Consistency: at, Actor: &pb.SubjectReference{Type: "user", Id: "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(grants.GetGrants()) != 1 || grants.GetGrants()[0].GetGrant().GetVia().GetId() != "acme" || grants.GetGrants()[0].GetGrantedToken() != wr.GetToken() {
		t.Errorf("grants in force = %v", grants.GetGrants())
	}
	code, body := ts.rest(t, "POST", "/v1/governance/actor-grants", readerSecret, `{"actor":{"type":"user","id":"carol"},"consistency":{"fully_consistent":true}}`)
	if code != http.StatusOK || len(body["grants"].([]any)) != 1 {
		t.Errorf("REST actor grants: %d %v", code, body)
	}

	// The access review inside acme, one entry per page.
	var entries []string
	pageToken := ""
	for range 5 {
		r, err := ts.governance().ReviewAccess(as(readerSecret), &pb.ReviewAccessRequest{
			Consistency: at, Subject: &pb.SubjectReference{Type: "user", Id: "dave"},
			Organization: &pb.ObjectReference{Type: "organization", Id: "acme"}, PageSize: 1, PageToken: pageToken,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.GetEntries() {
			if len(e.GetPaths()) == 0 || len(e.GetPaths()[0].GetRelationships()) == 0 {
				t.Errorf("entry without a path: %v", e)
			}
			entries = append(entries, fmt.Sprintf("%s:%s#%s", e.GetResource().GetType(), e.GetResource().GetId(), e.GetPermission()))
		}
		if pageToken = r.GetNextPageToken(); pageToken == "" {
			break
		}
	}
	want := map[string]bool{"organization:acme#see": true, "document:q3#view": true}
	for _, e := range entries {
		if !want[e] {
			t.Errorf("unexpected review entry %s (q9 lies outside acme)", e)
		}
		delete(want, e)
	}
	if len(want) > 0 {
		t.Errorf("review entries %v miss %v", entries, want)
	}

	_, err = ts.governance().ReviewAccess(as(readerSecret), &pb.ReviewAccessRequest{Subject: &pb.SubjectReference{Type: "user", Id: "dave"}, PageToken: "garbage"})
	wantCode(t, err, codes.InvalidArgument, "page_token")
}

func findProvenance(n *pb.ExplainNode, rel string) *pb.Provenance {
	if n == nil {
		return nil
	}
	if n.GetRelationship() != nil && relationshipFromProtoText(n.GetRelationship()) == rel && n.GetProvenance() != nil {
		return n.GetProvenance()
	}
	for _, c := range n.GetChildren() {
		if p := findProvenance(c, rel); p != nil {
			return p
		}
	}
	return nil
}

// Governance reads default to fully consistent: a review run right after the writes it
// reviews sees them, while a check without consistency reads the shared quantised
// revision (here pinned for an hour) and does not.
func TestGovernanceReadsAreFreshByDefault(t *testing.T) {
	ts := startServerOn(t, memory.New(datastore.Options{QuantizationWindow: time.Hour}), false, nil)
	ts.writeSchema(t, "")
	ts.touch(t, "", "organization:acme#admin@user:carol", "document:q3#org@organization:acme")
	// Pin the quantised revision before the grant.
	if _, err := ts.permissions().Check(as(readerSecret), &pb.CheckRequest{Resource: &pb.ObjectReference{Type: "organization", Id: "acme"},
		Permission: "see", Subject: &pb.SubjectReference{Type: "user", Id: "dave"}}); err != nil {
		t.Fatal(err)
	}
	grant := &pb.WriteRelationshipsRequest{
		Updates: []*pb.RelationshipUpdate{{Operation: pb.RelationshipUpdate_OPERATION_TOUCH,
			Relationship: protoconv.RelationshipToProto(mustParse("organization:acme#member@user:dave"))}},
		Actor: &pb.SubjectReference{Type: "user", Id: "carol"}, Reason: "new hire",
	}
	grant.Updates[0].Relationship.ExpiresAt = timestamppb.New(time.Now().Add(10 * 24 * time.Hour))
	wr, err := ts.relationships().WriteRelationships(as(delegateSecret), grant)
	if err != nil {
		t.Fatal(err)
	}

	grants, err := ts.governance().ListActorGrants(as(readerSecret), &pb.ListActorGrantsRequest{Actor: &pb.SubjectReference{Type: "user", Id: "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(grants.GetGrants()) != 1 || grants.GetToken() != wr.GetToken() {
		t.Errorf("grants in force right after the grant: %v at %s, want the grant at %s", grants.GetGrants(), grants.GetToken(), wr.GetToken())
	}
	review, err := ts.governance().ReviewAccess(as(readerSecret), &pb.ReviewAccessRequest{
		Subject: &pb.SubjectReference{Type: "user", Id: "dave"}, Organization: &pb.ObjectReference{Type: "organization", Id: "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if review.GetToken() != wr.GetToken() || len(review.GetEntries()) == 0 {
		t.Errorf("access review right after the grant: %v at %s, want entries at %s", review.GetEntries(), review.GetToken(), wr.GetToken())
	}
	code, body := ts.rest(t, "POST", "/v1/governance/actor-grants", readerSecret, `{"actor":{"type":"user","id":"carol"}}`)
	if code != http.StatusOK || body["token"] != wr.GetToken() {
		t.Errorf("REST grants in force: %d %v, want the grant's token %s", code, body, wr.GetToken())
	}
	// A check left to minimize_latency still reads the pinned revision.
	check, err := ts.permissions().Check(as(readerSecret), &pb.CheckRequest{Resource: &pb.ObjectReference{Type: "organization", Id: "acme"},
		Permission: "see", Subject: &pb.SubjectReference{Type: "user", Id: "dave"}})
	if err != nil || check.GetToken() == wr.GetToken() {
		t.Errorf("minimize_latency check: %v at %s, want the revision before the grant", err, check.GetToken())
	}
}

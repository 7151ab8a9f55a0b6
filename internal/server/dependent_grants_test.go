package server_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/serve"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// dependentView asks, at the revision of token (exactly), whether subject is a
// partner_viewer of project:eu-plan by Check, LookupResources and LookupSubjects, and
// fails unless all three agree; it returns Check's answer.
func dependentView(t *testing.T, ts *testServer, token, subject string) bool {
	t.Helper()
	ctx := as(readerSecret)
	at := &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: token}}
	req := checkReq("", "project:eu-plan", "partner_viewer", subject)
	req.Consistency = at
	resp, err := ts.permissions().Check(ctx, req)
	if err != nil {
		t.Fatalf("check %s: %v", subject, err)
	}
	allowed := resp.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_ALLOWED

	lr, err := ts.permissions().LookupResources(ctx, &pb.LookupResourcesRequest{Consistency: at, ResourceType: "project", Permission: "partner_viewer", Subject: req.GetSubject()})
	if err != nil {
		t.Fatal(err)
	}
	var resources []string
	for {
		r, err := lr.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("LookupResources: %v", err)
		}
		resources = append(resources, r.GetResourceId())
	}
	if slices.Contains(resources, "eu-plan") != allowed {
		t.Errorf("LookupResources(project#partner_viewer@%s) = %v, Check allowed=%v", subject, resources, allowed)
	}
	ls, err := ts.permissions().LookupSubjects(ctx, &pb.LookupSubjectsRequest{Consistency: at, Resource: req.GetResource(), Permission: "partner_viewer", SubjectType: "user"})
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for {
		r, err := ls.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("LookupSubjects: %v", err)
		}
		subjects = append(subjects, "user:"+r.GetSubjectId())
	}
	if slices.Contains(subjects, subject) != allowed {
		t.Errorf("LookupSubjects(project:eu-plan#partner_viewer) = %v, Check for %s allowed=%v", subjects, subject, allowed)
	}
	return allowed
}

// TestDependentGrantsEndToEnd: with the reference schema, a partner's admin shares a
// project with a partner employee; the grant counts while the employee stays an
// active member of the partner and the admin keeps the right, at the very revision
// either ends, with no sweep, while older revisions keep their answer. A grant an
// administrator wrote directly (no grantor) is not bound.
func TestDependentGrantsEndToEnd(t *testing.T) {
	ts := b2bServer(t)
	ts.touch(t, "",
		"project:eu-plan#partner@organization:partner",
		"organization:partner#admin@user:pia",
		"organization:partner#member@user:pat",
		"organization:partner#member@user:sue",
		"organization:partner#member@user:zed",
		// Written by an administrator: no grantor, not bound by the rule's conditions.
		"project:eu-plan#partner_viewer@user:ann",
	)
	in30d := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	grant := func(subject string) string {
		t.Helper()
		resp, err := ts.relationships().WriteRelationships(as(delegateSecret), delegated(pb.RelationshipUpdate_OPERATION_CREATE,
			"project:eu-plan#partner_viewer@"+subject+"[expiration:"+in30d+"]", "user:pia", "partner onboarding"))
		if err != nil {
			t.Fatalf("pia grants %s: %v", subject, err)
		}
		return resp.GetToken()
	}
	grant("user:pat")
	grant("user:sue")
	granted := grant("user:zed")
	for _, u := range []string{"user:pat", "user:sue", "user:zed", "user:ann"} {
		if !dependentView(t, ts, granted, u) {
			t.Fatalf("%s: denied right after the grant", u)
		}
	}

	// pat leaves the partner: denied at the delete's revision.
	left := adminDelete(t, ts, "organization:partner#member@user:pat")
	if dependentView(t, ts, left, "user:pat") {
		t.Error("pat still a partner viewer after leaving the partner")
	}
	if !dependentView(t, ts, granted, "user:pat") {
		t.Error("the grant's own revision no longer allows pat")
	}
	// The same through at_least_as_fresh, the usual way a caller reads its write.
	fresh := checkReq("", "project:eu-plan", "partner_viewer", "user:pat")
	fresh.Consistency = &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: left}}
	if resp, err := ts.permissions().Check(as(readerSecret), fresh); err != nil || resp.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_DENIED {
		t.Errorf("at_least_as_fresh the leave: %v %v, want denied", resp.GetPermissionship(), err)
	}

	// sue is suspended in the partner.
	suspended := ts.touch(t, "", "organization:partner#suspended@user:sue")
	if dependentView(t, ts, suspended, "user:sue") {
		t.Error("sue still a partner viewer while suspended")
	}
	if !dependentView(t, ts, suspended, "user:zed") {
		t.Error("zed lost the grant though nothing it depends on changed")
	}

	// pia is demoted: every grant she made ends; the admin-written one stays.
	demoted := adminDelete(t, ts, "organization:partner#admin@user:pia")
	if dependentView(t, ts, demoted, "user:zed") {
		t.Error("zed still a partner viewer after the grantor was demoted")
	}
	if !dependentView(t, ts, demoted, "user:ann") {
		t.Error("an administrator's grant was ended by the rule's conditions")
	}
}

// adminDelete deletes one relationship as an administrator and returns the token.
func adminDelete(t *testing.T, ts *testServer, rel string) string {
	t.Helper()
	req := delegated(pb.RelationshipUpdate_OPERATION_DELETE, rel, "user:x", "")
	req.Actor = nil
	resp, err := ts.relationships().WriteRelationships(as(adminSecret), req)
	if err != nil {
		t.Fatalf("delete %s: %v", rel, err)
	}
	return resp.GetToken()
}

// TestGrantSweeperDeletesEndedGrants: after a grant's dependency ends, one sweep pass
// deletes it through the write path with an audit record naming the cause; grants in
// force and an administrator's grant are untouched, and a second pass finds nothing.
func TestGrantSweeperDeletesEndedGrants(t *testing.T) {
	ts := b2bServer(t)
	ts.touch(t, "",
		"project:eu-plan#partner@organization:partner",
		"organization:partner#admin@user:pia",
		"organization:partner#admin@user:pam",
		"organization:partner#member@user:pat",
		"organization:partner#member@user:zed",
		"organization:partner#member@user:kim",
		"project:eu-plan#partner_viewer@user:ann",
	)
	in30d := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for _, g := range [][2]string{{"user:pia", "user:pat"}, {"user:pam", "user:zed"}, {"user:pia", "user:kim"}} {
		if _, err := ts.relationships().WriteRelationships(as(delegateSecret), delegated(pb.RelationshipUpdate_OPERATION_CREATE,
			"project:eu-plan#partner_viewer@"+g[1]+"[expiration:"+in30d+"]", g[0], "partner onboarding")); err != nil {
			t.Fatalf("%s grants %s: %v", g[0], g[1], err)
		}
	}
	if n, err := ts.sweeper.Pass(context.Background()); err != nil || n != 0 {
		t.Fatalf("a pass with every condition holding swept %d (%v), want 0", n, err)
	}
	adminDelete(t, ts, "organization:partner#member@user:pat")
	adminDelete(t, ts, "organization:partner#admin@user:pam")

	n, err := ts.sweeper.Pass(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("sweep deleted %d (%v), want 2", n, err)
	}
	if n, err := ts.sweeper.Pass(context.Background()); err != nil || n != 0 {
		t.Fatalf("a second pass swept %d (%v), want 0", n, err)
	}
	remaining := map[string]bool{}
	rr, err := ts.relationships().ReadRelationships(as(readerSecret), &pb.ReadRelationshipsRequest{
		Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
		Filter:      &pb.RelationshipFilter{ResourceType: "project", Relation: "partner_viewer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := rr.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		remaining[r.GetRelationship().GetSubject().GetId()] = true
	}
	if want := map[string]bool{"ann": true, "kim": true}; !maps.Equal(remaining, want) {
		t.Errorf("partner viewers after the sweep: %v, want %v", remaining, want)
	}

	audit, err := ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{Principal: serve.SweepPrincipal})
	if err != nil {
		t.Fatal(err)
	}
	causes := map[string]string{}
	for _, tx := range audit.GetTransactions() {
		for _, ch := range tx.GetChanges() {
			causes[ch.GetRelationship().GetSubject().GetId()] = tx.GetMetadata().GetReason()
		}
	}
	for who, want := range map[string][]string{
		"pat": {"grantee user:pat left organization:partner#active_member at revision"},
		"zed": {"grantor user:pam lost the right to grant project:eu-plan#partner_viewer", "partner->manage"},
	} {
		got, ok := causes[who]
		if !ok {
			t.Errorf("no sweep audit record deletes %s's grant (records: %v)", who, causes)
			continue
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("audit reason for %s's grant %q does not contain %q", who, got, w)
			}
		}
	}
	if len(causes) != 2 {
		t.Errorf("sweep audit records %v, want exactly pat's and zed's grants", causes)
	}
}

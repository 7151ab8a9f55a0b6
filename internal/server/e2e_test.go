package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// The "done when": a schema and relationships written through the API, then
// correct Check answers over gRPC and REST.
func TestCheckEndToEnd(t *testing.T) {
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	tok := ts.touch(t, "",
		"document:q3#owner@user:alice",
		"document:q3#viewer@group:finance#member",
		"group:finance#member@user:bob",
		"document:q3#org@organization:acme",
		"organization:acme#admin@user:erin",
		"document:pub#viewer@user:*",
	)
	cases := []struct {
		resource, permission, subject string
		want                          pb.Permissionship
	}{
		{"document:q3", "view", "user:alice", pb.Permissionship_PERMISSIONSHIP_ALLOWED},
		{"document:q3", "edit", "user:alice", pb.Permissionship_PERMISSIONSHIP_ALLOWED},
		{"document:q3", "view", "user:bob", pb.Permissionship_PERMISSIONSHIP_ALLOWED},
		{"document:q3", "edit", "user:bob", pb.Permissionship_PERMISSIONSHIP_DENIED},
		{"document:q3", "view", "user:erin", pb.Permissionship_PERMISSIONSHIP_ALLOWED},
		{"document:q3", "view", "user:mallory", pb.Permissionship_PERMISSIONSHIP_DENIED},
		{"document:pub", "view", "user:mallory", pb.Permissionship_PERMISSIONSHIP_ALLOWED},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s#%s@%s", c.resource, c.permission, c.subject)
		t.Run(name, func(t *testing.T) {
			req := checkReq("", c.resource, c.permission, c.subject)
			req.Consistency = &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
			resp, err := ts.permissions().Check(as(readerSecret), req)
			if err != nil {
				t.Fatalf("gRPC Check: %v", err)
			}
			if resp.GetPermissionship() != c.want {
				t.Errorf("gRPC: %v, want %v", resp.GetPermissionship(), c.want)
			}
			if resp.GetToken() == "" {
				t.Error("no token in the answer")
			}

			body, _ := json.Marshal(map[string]any{
				"resource":    map[string]string{"type": req.Resource.Type, "id": req.Resource.Id},
				"permission":  c.permission,
				"subject":     map[string]string{"type": req.Subject.Type, "id": req.Subject.Id},
				"consistency": map[string]string{"at_least_as_fresh": tok},
			})
			code, out := ts.rest(t, "POST", "/v1/permissions/check", readerSecret, string(body))
			if code != http.StatusOK {
				t.Fatalf("REST status %d: %v", code, out)
			}
			if out["permissionship"] != c.want.String() {
				t.Errorf("REST: %v, want %v", out["permissionship"], c.want)
			}
		})
	}
	e2eExplainBulkAndExpand(t, ts, tok)
}

// e2eExplainBulkAndExpand checks explanations, CheckBulk, contextual relationships, ListPermissions and Expand.
func e2eExplainBulkAndExpand(t *testing.T, ts *testServer, tok string) {
	t.Helper()
	// An explanation names the relationship that granted and who wrote it.
	req := checkReq("", "document:q3", "view", "user:bob")
	req.Explain = true
	resp, err := ts.permissions().Check(as(readerSecret), req)
	if err != nil {
		t.Fatal(err)
	}
	if !explainMentions(resp.GetExplanation(), "group:finance#member@user:bob") {
		t.Errorf("the explanation does not name the granting relationship: %v", resp.GetExplanation())
	}
	if p := findProvenance(resp.GetExplanation(), "group:finance#member@user:bob"); p.GetPrincipal() != "admin" || p.GetToken() != tok {
		t.Errorf("the granting relationship's provenance = %v, want written by admin at %s", p, tok)
	}

	// CheckBulk: answers in order; a malformed item fails alone.
	bulk, err := ts.permissions().CheckBulk(as(readerSecret), &pb.CheckBulkRequest{
		Consistency: fully(),
		Items: []*pb.CheckBulkRequestItem{
			{Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "bob"}},
			{Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "bad id"}},
			{Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "nosuch", Subject: &pb.SubjectReference{Type: "user", Id: "bob"}},
			{Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "edit", Subject: &pb.SubjectReference{Type: "user", Id: "bob"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	items := bulk.GetItems()
	if len(items) != 4 || items[0].GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED ||
		items[1].GetError().GetStatus() != "INVALID_ARGUMENT" || !strings.Contains(items[1].GetError().GetMessage(), "items[1].subject.id") ||
		items[2].GetError().GetStatus() != "INVALID_ARGUMENT" || !strings.Contains(items[2].GetError().GetMessage(), "nosuch") ||
		items[3].GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_DENIED {
		t.Errorf("CheckBulk items = %v", items)
	}

	// Contextual relationships count for one request only.
	ctxReq := checkReq("", "document:q3", "edit", "user:zoe")
	ctxReq.ContextualRelationships = []*pb.Relationship{protoconv.RelationshipToProto(mustParse("document:q3#owner@user:zoe"))}
	if r, err := ts.permissions().Check(as(readerSecret), ctxReq); err != nil || r.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
		t.Errorf("contextual check: %v %v", r, err)
	}
	if r, err := ts.permissions().Check(as(readerSecret), checkReq("", "document:q3", "edit", "user:zoe")); err != nil || r.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_DENIED {
		t.Errorf("the contextual relationship leaked: %v %v", r, err)
	}

	// ListPermissions.
	perms, err := ts.permissions().ListPermissions(as(readerSecret), &pb.ListPermissionsRequest{
		Consistency: fully(), Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Subject: &pb.SubjectReference{Type: "user", Id: "alice"},
	})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]pb.Permissionship{}
	for _, p := range perms.GetPermissions() {
		held[p.GetPermission()] = p.GetPermissionship()
	}
	if held["edit"] != pb.Permissionship_PERMISSIONSHIP_ALLOWED || held["view"] != pb.Permissionship_PERMISSIONSHIP_ALLOWED || held["owner"] != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
		t.Errorf("ListPermissions = %v", held)
	}

	// Expand.
	exp, err := ts.permissions().Expand(as(readerSecret), &pb.ExpandRequest{Consistency: fully(), Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "view"})
	if err != nil {
		t.Fatal(err)
	}
	if exp.GetTree().GetOperation() != pb.ExpandNode_OPERATION_UNION {
		t.Errorf("Expand root = %v", exp.GetTree())
	}
}

func explainMentions(n *pb.ExplainNode, rel string) bool {
	if n == nil {
		return false
	}
	if r := n.GetRelationship(); r != nil && relationshipFromProtoText(r) == rel && n.GetResult() == pb.Permissionship_PERMISSIONSHIP_ALLOWED {
		return true
	}
	for _, c := range n.GetChildren() {
		if explainMentions(c, rel) {
			return true
		}
	}
	return false
}

func relationshipFromProtoText(r *pb.Relationship) string {
	rel, err := protoconv.RelationshipFromProto("r", r)
	if err != nil {
		return err.Error()
	}
	return rel.Key().String()
}

func TestLookupsReadsAndCursors(t *testing.T) {
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	var rels []string
	for i := range 7 {
		rels = append(rels, fmt.Sprintf("document:doc%d#viewer@user:alice", i))
	}
	rels = append(rels, "document:doc0#viewer@user:bob")
	tok := ts.touch(t, "", rels...)
	at := &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
	ctx := as(readerSecret)

	// LookupResources in pages of 3, resumed by cursor at the same snapshot.
	var found []string
	cursor, snapshot := "", at
	for page := 0; page < 5; page++ {
		s, err := ts.permissions().LookupResources(ctx, &pb.LookupResourcesRequest{
			Consistency: snapshot, ResourceType: "document", Permission: "view",
			Subject: &pb.SubjectReference{Type: "user", Id: "alice"}, Limit: 3, Cursor: cursor,
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			r, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("LookupResources: %v", err)
			}
			found = append(found, r.GetResourceId())
			cursor = r.GetCursor()
			snapshot = &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: r.GetToken()}}
			n++
		}
		if n < 3 {
			break
		}
	}
	sort.Strings(found)
	if strings.Join(found, ",") != "doc0,doc1,doc2,doc3,doc4,doc5,doc6" {
		t.Errorf("LookupResources found %v", found)
	}

	// LookupSubjects.
	ls, err := ts.permissions().LookupSubjects(ctx, &pb.LookupSubjectsRequest{
		Consistency: at, Resource: &pb.ObjectReference{Type: "document", Id: "doc0"}, Permission: "view", SubjectType: "user",
	})
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
			t.Fatal(err)
		}
		subjects = append(subjects, r.GetSubjectId())
	}
	sort.Strings(subjects)
	if strings.Join(subjects, ",") != "alice,bob" {
		t.Errorf("LookupSubjects = %v", subjects)
	}
	e2eReadsAndRESTStreams(t, ts, at, ctx)
}

// e2eReadsAndRESTStreams checks paged reads pinned to their revision, and REST streams.
func e2eReadsAndRESTStreams(t *testing.T, ts *testServer, at *pb.Consistency, ctx context.Context) {
	t.Helper()
	// ReadRelationships in pages; the cursor pins the revision, so a write between
	// pages does not show up.
	filter := &pb.RelationshipFilter{ResourceType: "document", SubjectFilter: &pb.SubjectFilter{Type: "user", Ids: []string{"alice"}}}
	var read []string
	cursor := ""
	for page := 0; page < 5; page++ {
		s, err := ts.relationships().ReadRelationships(ctx, &pb.ReadRelationshipsRequest{Consistency: at, Filter: filter, Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			r, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			read = append(read, r.GetRelationship().GetResource().GetId())
			cursor = r.GetCursor()
			n++
		}
		if page == 0 {
			ts.touch(t, "", "document:doc00#viewer@user:alice") // sorts inside the first page's range
		}
		if n < 4 {
			break
		}
	}
	if strings.Join(read, ",") != "doc0,doc1,doc2,doc3,doc4,doc5,doc6" {
		t.Errorf("paged read = %v", read)
	}

	// REST streams answer with newline-delimited JSON results.
	code, raw := ts.restRaw(t, "POST", "/v1/permissions/resources", readerSecret,
		`{"consistency":{"fully_consistent":true},"resource_type":"document","permission":"view","subject":{"type":"user","id":"bob"}}`)
	if code != http.StatusOK {
		t.Fatalf("REST lookup: %d %s", code, raw)
	}
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var line struct {
			Result struct {
				ResourceID string `json:"resource_id"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ids = append(ids, line.Result.ResourceID)
	}
	if strings.Join(ids, ",") != "doc0" {
		t.Errorf("REST lookup = %v (%s)", ids, raw)
	}
}

func TestTenantIsolation(t *testing.T) {
	ts := startServer(t, nil)
	admin := as(adminSecret)
	for _, name := range []string{"brand-a", "brand-b"} {
		if _, err := ts.tenants().CreateTenant(admin, &pb.CreateTenantRequest{Tenant: name}); err != nil {
			t.Fatal(err)
		}
		ts.writeSchema(t, name)
	}
	_, err := ts.tenants().CreateTenant(admin, &pb.CreateTenantRequest{Tenant: "brand-a"})
	wantCode(t, err, codes.AlreadyExists)

	ts.touch(t, "brand-a", "document:home#viewer@user:alice")
	if r, err := ts.permissions().Check(admin, checkReq("brand-a", "document:home", "view", "user:alice")); err != nil || r.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
		t.Fatalf("own tenant: %v %v", r, err)
	}
	if r, err := ts.permissions().Check(admin, checkReq("brand-b", "document:home", "view", "user:alice")); err != nil || r.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_DENIED {
		t.Fatalf("other tenant sees the relationship: %v %v", r, err)
	}
	// The default tenant has no schema at all.
	_, err = ts.permissions().Check(admin, checkReq("", "document:home", "view", "user:alice"))
	wantCode(t, err, codes.FailedPrecondition, "no schema")
	// An unknown tenant is NOT_FOUND, over gRPC and REST.
	_, err = ts.permissions().Check(admin, checkReq("brand-z", "document:home", "view", "user:alice"))
	wantCode(t, err, codes.NotFound, "brand-z")
	code, body := ts.rest(t, "POST", "/v1/schema/read", adminSecret, `{"tenant":"brand-z"}`)
	wantHTTPError(t, code, body, http.StatusNotFound, codes.NotFound, "brand-z")

	// The audit trail and the export are per tenant too.
	a, err := ts.audit().ReadAuditLog(admin, &pb.ReadAuditLogRequest{Tenant: "brand-b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range a.GetTransactions() {
		if len(tx.GetChanges()) > 0 {
			t.Errorf("brand-b's audit trail shows a change: %v", tx)
		}
	}
	list, err := ts.tenants().ListTenants(admin, &pb.ListTenantsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range list.GetTenants() {
		names = append(names, tn.GetName())
	}
	if strings.Join(names, ",") != "brand-a,brand-b,default" {
		t.Errorf("ListTenants = %v", names)
	}
	code, body = ts.rest(t, "GET", "/v1/tenants", adminSecret, "")
	if code != http.StatusOK || len(body["tenants"].([]any)) != 3 {
		t.Errorf("REST ListTenants: %d %v", code, body)
	}
	code, _ = ts.rest(t, "DELETE", "/v1/tenants/brand-b", adminSecret, "")
	if code != http.StatusOK {
		t.Errorf("REST DeleteTenant: %d", code)
	}
	_, err = ts.tenants().DeleteTenant(admin, &pb.DeleteTenantRequest{Tenant: "default"})
	wantCode(t, err, codes.InvalidArgument, "cannot be deleted")
}

func TestWritesWatchAuditImportExport(t *testing.T) {
	ts := startServer(t, nil)
	schemaToken := ts.writeSchema(t, "")
	admin := as(adminSecret)

	// Watch everything after the schema write, over gRPC.
	watchCtx, cancelWatch := contextWithCancel(admin)
	defer cancelWatch()
	w, err := ts.watch().Watch(watchCtx, &pb.WatchRequest{AfterToken: schemaToken})
	if err != nil {
		t.Fatal(err)
	}

	// Create, then create again: ALREADY_EXISTS.
	create := &pb.WriteRelationshipsRequest{Reason: "ticket 42", Updates: []*pb.RelationshipUpdate{{
		Operation: pb.RelationshipUpdate_OPERATION_CREATE, Relationship: protoconv.RelationshipToProto(mustParse("document:d1#viewer@user:ann")),
	}}}
	wr, err := ts.relationships().WriteRelationships(admin, create)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.relationships().WriteRelationships(admin, create)
	wantCode(t, err, codes.AlreadyExists, "document:d1#viewer@user:ann")

	got, err := w.Recv()
	if err != nil {
		t.Fatal(err)
	}
	tx := got.GetTransaction()
	if got.GetToken() != wr.GetToken() || tx.GetMetadata().GetPrincipal() != "admin" || tx.GetMetadata().GetReason() != "ticket 42" ||
		len(tx.GetChanges()) != 1 || tx.GetChanges()[0].GetKind() != pb.RelationshipChange_KIND_CREATED {
		t.Errorf("watched %v, want the write at %s", got, wr.GetToken())
	}

	// Preconditions.
	_, err = ts.relationships().WriteRelationships(admin, &pb.WriteRelationshipsRequest{
		Updates:       []*pb.RelationshipUpdate{{Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: protoconv.RelationshipToProto(mustParse("document:d2#viewer@user:ann"))}},
		Preconditions: []*pb.Precondition{{Operation: pb.Precondition_OPERATION_MUST_MATCH, Filter: &pb.RelationshipFilter{ResourceType: "document", ResourceIds: []string{"d9"}}}},
	})
	wantCode(t, err, codes.FailedPrecondition, "precondition 0 failed")
	e2eImportDeleteAudit(t, ts, admin)
}

// e2eImportDeleteAudit checks import and export, delete by filter, the audit trail and schema dry runs.
func e2eImportDeleteAudit(t *testing.T, ts *testServer, admin context.Context) {
	t.Helper()
	// Import over REST as newline-delimited JSON, then export over gRPC.
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf(`{"relationships":[{"resource":{"type":"document","id":"imp%d"},"relation":"viewer","subject":{"type":"user","id":"ivan"}}]}`, i))
	}
	code, body := ts.rest(t, "POST", "/v1/relationships/import", adminSecret, strings.Join(lines, "\n"))
	if code != http.StatusOK || body["count"] != "5" {
		t.Fatalf("REST import: %d %v", code, body)
	}
	exp, err := ts.relationships().ExportRelationships(admin, &pb.ExportRelationshipsRequest{Consistency: fully()})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for {
		batch, err := exp.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		total += len(batch.GetRelationships())
	}
	if total != 6 {
		t.Errorf("export returned %d relationships, want 6", total)
	}
	// An import that names two tenants stops with INVALID_ARGUMENT.
	imp, err := ts.relationships().ImportRelationships(admin)
	if err != nil {
		t.Fatal(err)
	}
	imp.Send(&pb.ImportRelationshipsRequest{Relationships: []*pb.Relationship{protoconv.RelationshipToProto(mustParse("document:x1#viewer@user:ivan"))}})
	imp.Send(&pb.ImportRelationshipsRequest{Tenant: "other", Relationships: []*pb.Relationship{protoconv.RelationshipToProto(mustParse("document:x2#viewer@user:ivan"))}})
	_, err = imp.CloseAndRecv()
	wantCode(t, err, codes.InvalidArgument, `names tenant "other"`)

	// Delete by filter with a limit.
	del, err := ts.relationships().DeleteRelationships(admin, &pb.DeleteRelationshipsRequest{
		Filter: &pb.RelationshipFilter{ResourceType: "document", ResourceIdPrefix: "imp"}, Limit: 3,
	})
	if err != nil || del.GetDeletedCount() != 3 || !del.GetMore() {
		t.Fatalf("delete: %v %v", del, err)
	}

	// The audit trail, newest first, in pages, filtered by subject.
	var pages [][]*pb.Transaction
	pageToken := ""
	for {
		a, err := ts.audit().ReadAuditLog(as(readerSecret), &pb.ReadAuditLogRequest{PageSize: 2, PageToken: pageToken})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, a.GetTransactions())
		pageToken = a.GetNextPageToken()
		if pageToken == "" {
			break
		}
	}
	var ops []string
	for _, p := range pages {
		for _, tx := range p {
			ops = append(ops, tx.GetMetadata().GetOperation())
		}
	}
	if len(ops) < 4 || ops[0] != "delete" || ops[len(ops)-1] != "schema" {
		t.Errorf("audit operations newest first = %v", ops)
	}
	bySubject, err := ts.audit().ReadAuditLog(admin, &pb.ReadAuditLogRequest{Subject: &pb.ObjectReference{Type: "user", Id: "ann"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bySubject.GetTransactions()) != 1 || bySubject.GetTransactions()[0].GetMetadata().GetReason() != "ticket 42" {
		t.Errorf("audit by subject = %v", bySubject.GetTransactions())
	}

	// Schema dry run: the diff, nothing written; a change that orphans is refused.
	dry, err := ts.schemas().WriteSchema(admin, &pb.WriteSchemaRequest{DryRun: true, Schema: "definition user {}\ndefinition document { relation owner: user }"})
	if err != nil {
		t.Fatal(err)
	}
	if dry.GetApplied() || dry.GetDiff() == "" || dry.GetRefusal() == "" {
		t.Errorf("dry run = %v", dry)
	}
	_, err = ts.schemas().WriteSchema(admin, &pb.WriteSchemaRequest{Schema: "definition user {}"})
	wantCode(t, err, codes.FailedPrecondition, "orphan")
}

// Offboarding through the API removes the subject's relationships and returns them.
func TestOffboard(t *testing.T) {
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	ts.touch(t, "", "document:d1#viewer@user:olga", "group:eng#member@user:olga", "document:d2#owner@user:olga", "document:d1#viewer@user:pete")
	resp, err := ts.governance().Offboard(as(adminSecret), &pb.OffboardRequest{Subject: &pb.SubjectReference{Type: "user", Id: "olga"}, Reason: "left the company"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetRemoved()) != 3 {
		t.Errorf("removed %v", resp.GetRemoved())
	}
	r, err := ts.permissions().Check(as(readerSecret), checkReq("", "document:d2", "view", "user:olga"))
	if err != nil || r.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_DENIED {
		t.Errorf("after offboarding: %v %v", r, err)
	}
	_, err = ts.governance().Offboard(as(adminSecret), &pb.OffboardRequest{Subject: &pb.SubjectReference{Type: "user", Id: "pete"}})
	wantCode(t, err, codes.InvalidArgument, "reason is required")
}

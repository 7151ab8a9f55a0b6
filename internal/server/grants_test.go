package server_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// readAll reads the relationships of resource#relation over gRPC, fully consistent,
// in their text form.
func (ts *testServer) readAll(t *testing.T, resource, relation string) []string {
	t.Helper()
	obj, err := tuple.ParseObject(resource)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := ts.relationships().ReadRelationships(as(readerSecret), &pb.ReadRelationshipsRequest{
		Filter:      &pb.RelationshipFilter{ResourceType: obj.Type, ResourceIds: []string{obj.ID}, Relation: relation},
		Consistency: fully(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tuple.Format(protoconv.DecodeRelationship(r.GetRelationship())))
	}
}

// TestDelegatedGrantsAreReadBack: over gRPC and REST, a delegated write stores its
// grantor and the organisation the grantor's right came through, and every read
// returns them.
func TestDelegatedGrantsAreReadBack(t *testing.T) {
	for _, mk := range []func(*testServer) b2bTransport{
		func(ts *testServer) b2bTransport { return grpcTransport{ts} },
		func(ts *testServer) b2bTransport { return restTransport{ts} },
	} {
		ts := b2bServer(t)
		tr := mk(ts)
		t.Run(tr.name(), func(t *testing.T) {
			create := pb.RelationshipUpdate_OPERATION_CREATE
			for _, rel := range []string{"organization:acme-eu#member@user:bob", "organization:acme-eu-sales#member@user:carol"} {
				if code, msg := tr.call(t, delegateSecret, writeMethod, delegated(create, rel, "user:eve", "onboarding"), &pb.WriteRelationshipsResponse{}); code != codes.OK {
					t.Fatalf("eve creating %s: %v %s", rel, code, msg)
				}
			}
			if got, want := ts.readAll(t, "organization:acme-eu", "member"), []string{"organization:acme-eu#member@user:bob[granted:user:eve@organization:acme-eu]"}; !equalStrings(got, want) {
				t.Errorf("read acme-eu members: %q, want %q", got, want)
			}
			// eve's right on the child organisation comes through acme-eu, where she is admin.
			if got, want := ts.readAll(t, "organization:acme-eu-sales", "member"), []string{"organization:acme-eu-sales#member@user:carol[granted:user:eve@organization:acme-eu]"}; !equalStrings(got, want) {
				t.Errorf("read acme-eu-sales members: %q, want %q", got, want)
			}
			// The REST read shows the grant as JSON fields.
			code, raw := ts.restRaw(t, "POST", "/v1/relationships/read", readerSecret,
				`{"filter":{"resource_type":"organization","resource_ids":["acme-eu"],"relation":"member"},"consistency":{"fully_consistent":true}}`)
			if code != http.StatusOK {
				t.Fatalf("REST read: %d %s", code, raw)
			}
			var line struct {
				Result struct {
					Relationship struct {
						Granted struct {
							By  struct{ Type, ID string } `json:"by"`
							Via struct{ Type, ID string } `json:"via"`
						} `json:"granted"`
					} `json:"relationship"`
				} `json:"result"`
			}
			if err := json.Unmarshal([]byte(strings.SplitN(string(raw), "\n", 2)[0]), &line); err != nil {
				t.Fatalf("REST read line: %v\n%s", err, raw)
			}
			if g := line.Result.Relationship.Granted; g.By.Type != "user" || g.By.ID != "eve" || g.Via.Type != "organization" || g.Via.ID != "acme-eu" {
				t.Errorf("REST read grant %+v in %s", g, raw)
			}
		})
	}
}

// TestGrantsCannotBeForged: no key may write a grant, over gRPC or REST; an admin's
// import carries one in, so an export imports back unchanged.
func TestGrantsCannotBeForged(t *testing.T) {
	ts := b2bServer(t)
	forged := "organization:acme-eu#member@user:mallory[granted:user:root@organization:acme]"
	touch := pb.RelationshipUpdate_OPERATION_TOUCH
	for _, tr := range []b2bTransport{grpcTransport{ts}, restTransport{ts}} {
		for _, c := range []struct {
			secret string
			req    *pb.WriteRelationshipsRequest
		}{
			{adminSecret, delegated(touch, forged, "user:root", "")},
			{delegateSecret, delegated(touch, forged, "user:eve", "")},
		} {
			if c.secret == adminSecret {
				c.req.Actor = nil
			}
			code, msg := tr.call(t, c.secret, writeMethod, c.req, &pb.WriteRelationshipsResponse{})
			if code != codes.InvalidArgument || !strings.Contains(msg, "updates[0].relationship.granted") {
				t.Errorf("%s: writing a grant: %v %q, want INVALID_ARGUMENT naming updates[0].relationship.granted", tr.name(), code, msg)
			}
		}
	}
	if got := ts.readAll(t, "organization:acme-eu", "member"); len(got) != 0 {
		t.Fatalf("a forged grant was stored: %q", got)
	}
	imp, err := ts.relationships().ImportRelationships(as(adminSecret))
	if err != nil {
		t.Fatal(err)
	}
	if err := imp.Send(&pb.ImportRelationshipsRequest{Relationships: []*pb.Relationship{protoconv.RelationshipToProto(tuple.MustParse(forged))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := imp.CloseAndRecv(); err != nil {
		t.Fatalf("admin import with a grant: %v", err)
	}
	if got := ts.readAll(t, "organization:acme-eu", "member"); !equalStrings(got, []string{forged}) {
		t.Fatalf("after the import: %q, want %s", got, forged)
	}
	// The export gives the grant back, so it imports again unchanged.
	exp, err := ts.relationships().ExportRelationships(as(adminSecret), &pb.ExportRelationshipsRequest{Consistency: fully()})
	if err != nil {
		t.Fatal(err)
	}
	exported := false
	for {
		batch, err := exp.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range batch.GetRelationships() {
			exported = exported || tuple.Format(protoconv.DecodeRelationship(r)) == forged
		}
	}
	if !exported {
		t.Fatalf("the export does not carry %s", forged)
	}
	// A grant that is not well formed is refused by name, even in an import.
	bad := protoconv.RelationshipToProto(tuple.MustParse("organization:acme-eu#member@user:x"))
	bad.Granted = &pb.RelationshipGrant{By: &pb.SubjectReference{Type: "group", Id: "admins", Relation: "member"}, Via: &pb.ObjectReference{Type: "organization", Id: "acme"}}
	imp, err = ts.relationships().ImportRelationships(as(adminSecret))
	if err != nil {
		t.Fatal(err)
	}
	_ = imp.Send(&pb.ImportRelationshipsRequest{Relationships: []*pb.Relationship{bad}})
	_, err = imp.CloseAndRecv()
	wantCode(t, err, codes.InvalidArgument, "granted.by.relation")
	body, _ := protojson.Marshal(&pb.WriteRelationshipsRequest{Updates: []*pb.RelationshipUpdate{{Operation: touch, Relationship: bad}}})
	if code, out := ts.rest(t, "POST", "/v1/relationships/write", adminSecret, string(body)); code != http.StatusBadRequest || !strings.Contains(out["message"].(string), "granted.by.relation") {
		t.Errorf("REST write of a malformed grant: %d %v", code, out)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

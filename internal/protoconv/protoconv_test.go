package protoconv

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestRelationshipRoundTrip(t *testing.T) {
	for _, text := range []string{
		"document:q3#viewer@user:alice",
		"document:q3#viewer@group:finance#member",
		"document:pub#viewer@user:*",
		`project:apollo#partner@organization:globex[within_network:{"allowed_cidr":"10.0.0.0/8","max":3}][expiration:2027-01-01T00:00:00Z]`,
		"organization:acme-eu#member@user:bob[granted:user:eve@organization:acme-eu]",
		`project:apollo#partner@organization:globex[within_network:{"max":3}][granted:service:provisioner@organization:acme][expiration:2027-01-01T00:00:00Z]`,
	} {
		r := tuple.MustParse(text)
		got, err := RelationshipFromProto("relationship", RelationshipToProto(r))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if tuple.Format(got) != text {
			t.Errorf("round trip of %s gave %s", text, tuple.Format(got))
		}
		if d := tuple.Format(DecodeRelationship(RelationshipToProto(r))); d != text {
			t.Errorf("DecodeRelationship of %s gave %s", text, d)
		}
	}
}

func TestFromProtoNamesTheField(t *testing.T) {
	valid := func() *pb.Relationship { return RelationshipToProto(tuple.MustParse("document:q3#viewer@user:alice")) }
	cases := []struct {
		name string
		edit func(*pb.Relationship) *pb.Relationship
		want string
	}{
		{"absent", func(*pb.Relationship) *pb.Relationship { return nil }, "updates[2] is required"},
		{"no resource", func(r *pb.Relationship) *pb.Relationship { r.Resource = nil; return r }, "updates[2].resource is required"},
		{"bad type", func(r *pb.Relationship) *pb.Relationship { r.Resource.Type = "Doc"; return r }, "updates[2].resource.type"},
		{"bad id", func(r *pb.Relationship) *pb.Relationship { r.Resource.Id = "a b"; return r }, "updates[2].resource.id"},
		{"bad relation", func(r *pb.Relationship) *pb.Relationship { r.Relation = "x"; return r }, "updates[2].relation"},
		{"no subject", func(r *pb.Relationship) *pb.Relationship { r.Subject = nil; return r }, "updates[2].subject is required"},
		{"wildcard with relation", func(r *pb.Relationship) *pb.Relationship {
			r.Subject = &pb.SubjectReference{Type: "user", Id: "*", Relation: "member"}
			return r
		}, `updates[2].subject.relation "member": a wildcard subject cannot name a relation`},
		{"bad caveat", func(r *pb.Relationship) *pb.Relationship { r.Caveat = &pb.Caveat{Name: "1x"}; return r }, "updates[2].caveat.name"},
		{"bad expiry", func(r *pb.Relationship) *pb.Relationship {
			r.ExpiresAt = &timestamppb.Timestamp{Seconds: 1, Nanos: -1}
			return r
		}, "updates[2].expires_at:"},
		{"grant without grantor", func(r *pb.Relationship) *pb.Relationship {
			r.Granted = &pb.RelationshipGrant{Via: &pb.ObjectReference{Type: "organization", Id: "acme"}}
			return r
		}, "updates[2].granted.by is required"},
		{"grant without via", func(r *pb.Relationship) *pb.Relationship {
			r.Granted = &pb.RelationshipGrant{By: &pb.SubjectReference{Type: "user", Id: "eve"}}
			return r
		}, "updates[2].granted.via is required"},
		{"grant by a bad id", func(r *pb.Relationship) *pb.Relationship {
			r.Granted = &pb.RelationshipGrant{By: &pb.SubjectReference{Type: "user", Id: "e v"}, Via: &pb.ObjectReference{Type: "organization", Id: "acme"}}
			return r
		}, "updates[2].granted.by.id"},
		{"grant by a subject set", func(r *pb.Relationship) *pb.Relationship {
			r.Granted = &pb.RelationshipGrant{By: &pb.SubjectReference{Type: "group", Id: "admins", Relation: "member"}, Via: &pb.ObjectReference{Type: "organization", Id: "acme"}}
			return r
		}, "updates[2].granted.by.relation"},
		{"grant by a wildcard", func(r *pb.Relationship) *pb.Relationship {
			r.Granted = &pb.RelationshipGrant{By: &pb.SubjectReference{Type: "user", Id: "*"}, Via: &pb.ObjectReference{Type: "organization", Id: "acme"}}
			return r
		}, "updates[2].granted.by.id"},
		{"grant via a bad type", func(r *pb.Relationship) *pb.Relationship {
			r.Granted = &pb.RelationshipGrant{By: &pb.SubjectReference{Type: "user", Id: "eve"}, Via: &pb.ObjectReference{Type: "Org", Id: "acme"}}
			return r
		}, "updates[2].granted.via.type"},
	}
	for _, tc := range cases {
		_, err := RelationshipFromProto("updates[2]", tc.edit(valid()))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one starting with %q", tc.name, err, tc.want)
			continue
		}
		if !errors.Is(err, tuple.ErrInvalid) {
			t.Errorf("%s: error %v does not match tuple.ErrInvalid", tc.name, err)
		}
	}
}

func TestSubjectEllipsisIsTheObject(t *testing.T) {
	s, err := SubjectFromProto("subject", &pb.SubjectReference{Type: "user", Id: "alice", Relation: tuple.Ellipsis})
	if err != nil || s != (tuple.SubjectRef{Type: "user", ID: "alice"}) {
		t.Fatalf("got %v, %v", s, err)
	}
}

func TestOptionalAndPatterns(t *testing.T) {
	if o, err := OptionalObjectFromProto("org", nil); o != nil || err != nil {
		t.Errorf("absent object: %v, %v", o, err)
	}
	if s, err := OptionalSubjectFromProto("actor", nil); s != nil || err != nil {
		t.Errorf("absent subject: %v, %v", s, err)
	}
	p, err := ObjectPatternFromProto("resource", &pb.ObjectReference{Type: "document"})
	if err != nil || *p != (tuple.ObjectRef{Type: "document"}) {
		t.Errorf("type-only pattern: %v, %v", p, err)
	}
	if _, err := ObjectPatternFromProto("resource", &pb.ObjectReference{Type: "document", Id: "a b"}); err == nil || !strings.Contains(err.Error(), "resource.id") {
		t.Errorf("bad pattern id: %v", err)
	}
	if OptionalSubjectToProto(nil) != nil || OptionalObjectToProto(nil) != nil || CaveatToProto(nil) != nil {
		t.Error("nil references must convert to nil")
	}
}

func TestContexts(t *testing.T) {
	m := map[string]any{"n": json.Number("30"), "list": []any{json.Number("1.5"), "x"}, "at": time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "d": 90 * time.Second}
	s, err := ContextToProto(m)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := structpb.NewStruct(map[string]any{"n": 30.0, "list": []any{1.5, "x"}, "at": "2027-01-01T00:00:00Z", "d": "1m30s"})
	if !proto.Equal(s, want) {
		t.Errorf("ContextToProto = %v, want %v", s, want)
	}
	if got := ContextFromProto(s); got["n"] != 30.0 {
		t.Errorf("ContextFromProto = %v", got)
	}
	if ContextFromProto(&structpb.Struct{}) != nil {
		t.Error("an empty Struct must give a nil context")
	}
	huge := map[string]any{"n": json.Number("1e400")}
	if _, err := ContextToProto(huge); err == nil || !strings.Contains(err.Error(), "1e400") {
		t.Errorf("a number beyond the double range: %v, want an error naming it", err)
	}
	// Read back from the store, the same value is still sent, as text.
	c := CaveatToProto(&tuple.Caveat{Name: "limit", Context: huge})
	if c.GetContext().GetFields()["n"].GetStringValue() != "1e400" {
		t.Errorf("stored context: %v", c)
	}
}

func TestParseConsistency(t *testing.T) {
	cases := []struct {
		in   string
		want *pb.Consistency
		err  string
	}{
		{in: "", want: nil},
		{in: "minimize_latency", want: MinimizeLatency()},
		{in: " fully_consistent ", want: FullyConsistent()},
		{in: "at_least_as_fresh:pt1_abc", want: AtLeastAsFresh("pt1_abc")},
		{in: "at_exact_snapshot:pt1_abc", want: AtExactSnapshot("pt1_abc")},
		{in: "at_exact_snapshot", err: "at_exact_snapshot needs a token"},
		{in: "at_least_as_fresh:", err: "needs a token"},
		{in: "minimize_latency:x", err: "is not one of"},
		{in: "strong", err: `"strong" is not one of`},
	}
	for _, tc := range cases {
		got, err := ParseConsistency(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseConsistency(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !proto.Equal(got, tc.want) {
			t.Errorf("ParseConsistency(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestCodeName(t *testing.T) {
	for c, want := range map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.Unauthenticated: "UNAUTHENTICATED", codes.Code(99): "CODE_99",
	} {
		if got := CodeName(c); got != want {
			t.Errorf("CodeName(%d) = %s, want %s", c, got, want)
		}
	}
}

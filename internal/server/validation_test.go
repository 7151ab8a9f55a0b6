package server_test

import (
	"context"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Malformed requests are refused with INVALID_ARGUMENT (400) and a message naming the
// field and the value at fault, before any work is done.
func TestMalformedRequests(t *testing.T) {
	ts := startServer(t, nil)
	tok := ts.writeSchema(t, "")
	for _, c := range malformedGRPCCalls(ts, as(adminSecret), tok) {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, c.call(), codes.InvalidArgument, c.fragments...)
		})
	}

	restCases := []struct {
		name, path, body string
		fragments        []string
	}{
		{"bad id", "/v1/permissions/check",
			`{"resource":{"type":"document","id":"bad id!"},"permission":"view","subject":{"type":"user","id":"alice"}}`,
			[]string{"resource.id"}},
		{"unknown consistency", "/v1/permissions/check",
			`{"consistency":{"eventually":true},"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"alice"}}`,
			[]string{"eventually"}},
		{"malformed token", "/v1/permissions/check",
			`{"consistency":{"at_least_as_fresh":"xyz"},"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"alice"}}`,
			[]string{"consistency.at_least_as_fresh", "not a Pemba revision token"}},
		{"bad json", "/v1/permissions/check", `{"resource":`, nil},
		{"unknown operation", "/v1/relationships/write",
			`{"updates":[{"operation":"OPERATION_UPSERT","relationship":{"resource":{"type":"document","id":"d1"},"relation":"viewer","subject":{"type":"user","id":"bob"}}}]}`,
			[]string{"OPERATION_UPSERT"}},
	}
	for _, c := range restCases {
		t.Run("rest/"+c.name, func(t *testing.T) {
			code, body := ts.rest(t, "POST", c.path, adminSecret, c.body)
			wantHTTPError(t, code, body, http.StatusBadRequest, codes.InvalidArgument, c.fragments...)
		})
	}
}

// malformedCall is one malformed gRPC request and the fragments its error names.
type malformedCall struct {
	name      string
	call      func() error
	fragments []string
}

// malformedGRPCCalls are the malformed gRPC requests of TestMalformedRequests.
func malformedGRPCCalls(ts *testServer, ctx context.Context, tok string) []malformedCall {
	return []malformedCall{
		{"bad resource id", func() error {
			r := checkReq("", "document:d1", "view", "user:alice")
			r.Resource.Id = "bad id!"
			_, err := ts.permissions().Check(ctx, r)
			return err
		}, []string{"resource.id", `"bad id!"`}},
		{"bad resource type", func() error {
			r := checkReq("", "document:d1", "view", "user:alice")
			r.Resource.Type = "Document"
			_, err := ts.permissions().Check(ctx, r)
			return err
		}, []string{"resource.type", `"Document"`, "lower-case"}},
		{"missing subject", func() error {
			r := checkReq("", "document:d1", "view", "user:alice")
			r.Subject = nil
			_, err := ts.permissions().Check(ctx, r)
			return err
		}, []string{"subject is required"}},
		{"bad permission", func() error {
			_, err := ts.permissions().Check(ctx, checkReq("", "document:d1", "v", "user:alice"))
			return err
		}, []string{"permission", `"v"`}},
		{"bad tenant", func() error {
			_, err := ts.permissions().Check(ctx, checkReq("Acme!", "document:d1", "view", "user:alice"))
			return err
		}, []string{"tenant", `"Acme!"`}},
		{"unknown consistency", func() error {
			r := checkReq("", "document:d1", "view", "user:alice")
			r.Consistency = &pb.Consistency{}
			r.Consistency.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1))
			_, err := ts.permissions().Check(ctx, r)
			return err
		}, []string{"consistency: unknown requirement"}},
		{"false fully_consistent", func() error {
			r := checkReq("", "document:d1", "view", "user:alice")
			r.Consistency = &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{}}
			_, err := ts.permissions().Check(ctx, r)
			return err
		}, []string{"consistency.fully_consistent must be true"}},
		{"malformed token", func() error {
			r := checkReq("", "document:d1", "view", "user:alice")
			r.Consistency = &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: "pt1_garbage"}}
			_, err := ts.permissions().Check(ctx, r)
			return err
		}, []string{"consistency.at_least_as_fresh", "malformed"}},
		{"token of another tenant", func() error {
			if _, err := ts.tenants().CreateTenant(ctx, &pb.CreateTenantRequest{Tenant: "other"}); err != nil {
				return err
			}
			r := checkReq("other", "document:d1", "view", "user:alice")
			r.Consistency = &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: tok}}
			_, err := ts.permissions().Check(ctx, r)
			return err
		}, []string{"consistency.at_exact_snapshot", "different tenant"}},
		{"write without operation", func() error {
			_, err := ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: []*pb.RelationshipUpdate{
				{Relationship: protoconv.RelationshipToProto(mustParse("document:d1#viewer@user:bob"))},
			}})
			return err
		}, []string{"updates[0].operation is required"}},
		{"write with a bad subject", func() error {
			r := protoconv.RelationshipToProto(mustParse("document:d1#viewer@user:bob"))
			r.Subject.Id = "bob smith"
			_, err := ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: []*pb.RelationshipUpdate{
				{Operation: pb.RelationshipUpdate_OPERATION_CREATE, Relationship: protoconv.RelationshipToProto(mustParse("document:d1#viewer@user:carl"))},
				{Operation: pb.RelationshipUpdate_OPERATION_CREATE, Relationship: r},
			}})
			return err
		}, []string{"updates[1].relationship.subject.id", `"bob smith"`}},
		{"write of an undefined relation", func() error {
			_, err := ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: []*pb.RelationshipUpdate{
				{Operation: pb.RelationshipUpdate_OPERATION_CREATE, Relationship: protoconv.RelationshipToProto(mustParse("document:d1#reader@user:bob"))},
			}})
			return err
		}, []string{"reader"}},
		{"expiry already passed", func() error {
			rel := protoconv.RelationshipToProto(tuple.MustParse("document:d1#viewer@user:alice[expiration:2020-01-01T00:00:00Z]"))
			_, err := ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: []*pb.RelationshipUpdate{{
				Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel}}})
			return err
		}, []string{"document:d1#viewer@user:alice", "expires_at 2020-01-01T00:00:00Z is not in the future"}},
		{"empty write", func() error {
			_, err := ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{})
			return err
		}, []string{"updates is empty"}},
		{"delete without filter", func() error {
			_, err := ts.relationships().DeleteRelationships(ctx, &pb.DeleteRelationshipsRequest{})
			return err
		}, []string{"filter is required"}},
		{"bulk without items", func() error {
			_, err := ts.permissions().CheckBulk(ctx, &pb.CheckBulkRequest{})
			return err
		}, []string{"items is empty"}},
		{"schema that does not compile", func() error {
			_, err := ts.schemas().WriteSchema(ctx, &pb.WriteSchemaRequest{Schema: "definition document { relation viewer: usr }"})
			return err
		}, []string{"usr"}},
		{"malformed read cursor", func() error {
			s, err := ts.relationships().ReadRelationships(ctx, &pb.ReadRelationshipsRequest{Filter: &pb.RelationshipFilter{ResourceType: "document"}, Cursor: "nope"})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, []string{"cursor", "malformed"}},
	}
}

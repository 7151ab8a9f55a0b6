package server

import (
	"context"
	"fmt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// WriteRelationships applies a write's updates atomically.
func (s *relationshipService) WriteRelationships(ctx context.Context, req *pb.WriteRelationshipsRequest) (*pb.WriteRelationshipsResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if len(req.GetUpdates()) == 0 {
		return nil, invalidf("updates is empty: a write needs at least one update")
	}
	updates := make([]datastore.Update, len(req.GetUpdates()))
	for i, u := range req.GetUpdates() {
		field := fmt.Sprintf("updates[%d]", i)
		op, err := operationFromProto(field+".operation", u.GetOperation())
		if err != nil {
			return nil, err
		}
		rel, err := protoconv.RelationshipFromProto(field+".relationship", u.GetRelationship())
		if err != nil {
			return nil, err
		}
		if rel.Granted != nil {
			return nil, invalidf("%s.relationship.granted: %s", field, write.GrantedRefusal)
		}
		updates[i] = datastore.Update{Op: op, Relationship: rel}
	}
	pre, err := preconditionsFromProto(req.GetPreconditions())
	if err != nil {
		return nil, err
	}
	actor, err := protoconv.OptionalSubjectFromProto("actor", req.GetActor())
	if err != nil {
		return nil, err
	}

	rev, err := s.writer.WriteRelationships(ctx, s.writeRequest(ctx, tenant, actor, req.GetReason()), updates, pre)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.WriteRelationshipsResponse{Token: s.token(tenant, rev)}, nil
}

// writeRequest says who makes a change: the authenticated key's name, the acting
// subject and the reason, for the write path's authorisation and audit record.
func (s *Server) writeRequest(ctx context.Context, tenant string, actor *tuple.SubjectRef, reason string) write.Request {
	return write.Request{Tenant: tenant, Principal: principalFrom(ctx).Name, Actor: actor, Reason: reason}
}

func operationFromProto(field string, op pb.RelationshipUpdate_Operation) (datastore.Operation, error) {
	switch op {
	case pb.RelationshipUpdate_OPERATION_CREATE:
		return datastore.OpCreate, nil
	case pb.RelationshipUpdate_OPERATION_TOUCH:
		return datastore.OpTouch, nil
	case pb.RelationshipUpdate_OPERATION_DELETE:
		return datastore.OpDelete, nil
	case pb.RelationshipUpdate_OPERATION_UNSPECIFIED:
		return 0, invalidf("%s is required: OPERATION_CREATE, OPERATION_TOUCH or OPERATION_DELETE", field)
	}
	return 0, invalidf("%s %d is not a known operation", field, int32(op))
}

func preconditionsFromProto(ps []*pb.Precondition) ([]write.Precondition, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	out := make([]write.Precondition, len(ps))
	for i, p := range ps {
		field := fmt.Sprintf("preconditions[%d]", i)
		switch p.GetOperation() {
		case pb.Precondition_OPERATION_MUST_MATCH:
			out[i].MustMatch = true
		case pb.Precondition_OPERATION_MUST_NOT_MATCH:
		case pb.Precondition_OPERATION_UNSPECIFIED:
			return nil, invalidf("%s.operation is required: OPERATION_MUST_MATCH or OPERATION_MUST_NOT_MATCH", field)
		default:
			return nil, invalidf("%s.operation %d is not a known operation", field, int32(p.GetOperation()))
		}
		f, err := filterFromProto(field+".filter", p.GetFilter())
		if err != nil {
			return nil, err
		}
		out[i].Filter = f
	}
	return out, nil
}

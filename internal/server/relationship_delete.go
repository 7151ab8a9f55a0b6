package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// DeleteRelationships deletes the relationships matching a filter, up to a limit.
func (s *relationshipService) DeleteRelationships(ctx context.Context, req *pb.DeleteRelationshipsRequest) (*pb.DeleteRelationshipsResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	filter, err := filterFromProto("filter", req.GetFilter())
	if err != nil {
		return nil, err
	}
	pre, err := preconditionsFromProto(req.GetPreconditions())
	if err != nil {
		return nil, err
	}
	actor, err := protoconv.OptionalSubjectFromProto("actor", req.GetActor())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = s.limits.MaxDeleteLimit
	}

	res, err := s.writer.DeleteRelationships(ctx, s.writeRequest(ctx, tenant, actor, req.GetReason()), filter, limit, pre)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteRelationshipsResponse{
		Token:        s.token(tenant, res.Revision),
		DeletedCount: uint32(len(res.Deleted)),
		More:         res.More,
	}, nil
}

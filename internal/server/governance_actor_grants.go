package server

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ListActorGrants lists the relationships an acting subject granted through delegated
// writes that are still in force, newest first, one page at a time. Every page reads
// at the revision of the first, which its page token carries.
func (s *governanceService) ListActorGrants(ctx context.Context, req *pb.ListActorGrantsRequest) (*pb.ListActorGrantsResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	actor, err := protoconv.SubjectFromProto("actor", req.GetActor())
	if err != nil {
		return nil, err
	}
	rev, offset, err := s.reviewPageStart(ctx, tenant, req.GetConsistency(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	size := s.limits.pageSize(req.GetPageSize())

	grants, err := s.reviewer.GrantsInForce(ctx, tenant, rev, actor, offset+size+1)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListActorGrantsResponse{Token: s.token(tenant, rev)}
	grants, out.NextPageToken = pageOf(grants, offset, size, func(next int) string { return s.reviewPageToken(tenant, rev, next) })
	for _, g := range grants {
		ag := &pb.ActorGrant{
			Relationship: protoconv.RelationshipToProto(g.Relationship),
			GrantedToken: s.token(tenant, g.Revision),
			Reason:       g.Reason,
			Principal:    g.Principal,
			Grant:        &pb.GrantRecord{Relationship: protoconv.KeyToProto(g.Relationship.Key()), Rule: g.Rule},
		}
		if !g.Time.IsZero() {
			ag.GrantedAt = timestamppb.New(g.Time)
		}
		if g.Via != nil {
			ag.Grant.Via = protoconv.ObjectToProto(*g.Via)
		}
		out.Grants = append(out.Grants, ag)
	}
	return out, nil
}

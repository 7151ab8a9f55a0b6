package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// WhatIf lists the delegated grants that would stop counting if the given stored
// relationships were deleted. It writes nothing.
func (s *governanceService) WhatIf(ctx context.Context, req *pb.WhatIfRequest) (*pb.WhatIfResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if len(req.GetRemove()) == 0 {
		return nil, invalidf("remove: name at least one relationship to remove")
	}
	if len(req.GetRemove()) > governance.MaxWhatIfRemovals {
		return nil, invalidf("remove: %d relationships are more than the limit of %d per question", len(req.GetRemove()), governance.MaxWhatIfRemovals)
	}
	remove, err := protoconv.RelationshipsFromProto("remove", req.GetRemove())
	if err != nil {
		return nil, err
	}
	rev, err := s.readRevision(ctx, tenant, req.GetConsistency(), engine.FullyConsistent)
	if err != nil {
		return nil, err
	}
	res, err := s.reviewer.WhatIf(ctx, governance.WhatIfRequest{Tenant: tenant, Revision: rev, Remove: remove})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.WhatIfResponse{
		Token:   s.token(tenant, rev),
		Removed: protoconv.RelationshipsToProto(res.Removed),
		Ending:  endingToProto(res.Ending),
	}, nil
}

// endingToProto converts what-if answers.
func endingToProto(ending []governance.EndingGrant) []*pb.EndingGrant {
	out := make([]*pb.EndingGrant, len(ending))
	for i, e := range ending {
		g := &pb.EndingGrant{Relationship: protoconv.RelationshipToProto(e.Relationship), Rule: e.Rule}
		for _, b := range e.Broken {
			g.Broken = append(g.Broken, &pb.BrokenCondition{
				Condition: b.Condition, Resource: protoconv.ObjectToProto(b.Resource), Permission: b.Permission,
				Subject: protoconv.SubjectToProto(b.Subject), Path: protoconv.RelationshipsToProto(b.Path),
				Ends: protoconv.RelationshipsToProto(b.Ends),
			})
		}
		out[i] = g
	}
	return out
}

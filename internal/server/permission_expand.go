package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Expand returns the userset tree of a permission on a resource.
func (s *permissionService) Expand(ctx context.Context, req *pb.ExpandRequest) (*pb.ExpandResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	resource, err := protoconv.ObjectFromProto("resource", req.GetResource())
	if err != nil {
		return nil, err
	}
	if err := tuple.ValidateRelationName("permission", req.GetPermission()); err != nil {
		return nil, err
	}
	rev, err := s.readRevision(ctx, tenant, req.GetConsistency(), engine.MinimizeLatency)
	if err != nil {
		return nil, err
	}

	tree, err := s.engine.Expand(ctx, engine.ExpandRequest{Tenant: tenant, Revision: rev, Resource: resource, Permission: req.GetPermission()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ExpandResponse{Token: s.token(tenant, rev), Tree: expandToProto(tree)}, nil
}

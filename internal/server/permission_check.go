package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Check answers whether a subject has a permission on a resource.
func (s *permissionService) Check(ctx context.Context, req *pb.CheckRequest) (*pb.CheckResponse, error) {
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
	subject, err := protoconv.SubjectFromProto("subject", req.GetSubject())
	if err != nil {
		return nil, err
	}
	contextual, err := protoconv.RelationshipsFromProto("contextual_relationships", req.GetContextualRelationships())
	if err != nil {
		return nil, err
	}
	rev, err := s.readRevision(ctx, tenant, req.GetConsistency(), engine.MinimizeLatency)
	if err != nil {
		return nil, err
	}

	res, err := s.engine.Check(ctx, engine.CheckRequest{
		Tenant:     tenant,
		Revision:   rev,
		Resource:   resource,
		Permission: req.GetPermission(),
		Subject:    subject,
		Context:    protoconv.ContextFromProto(req.GetContext()),
		Contextual: contextual,
		Explain:    req.GetExplain(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	s.recordCheck(ctx, "check", tenant, rev, resource, req.GetPermission(), subject, res)
	var prov map[tuple.Key]governance.Provenance
	if res.Explanation != nil {
		// Name who wrote each relationship the answer relied on, from the audit trail.
		if prov, err = s.reviewer.Provenance(ctx, tenant, rev, res.Explanation); err != nil {
			return nil, toStatus(err)
		}
	}
	return &pb.CheckResponse{
		Token:          s.token(tenant, rev),
		Permissionship: permissionshipToProto(res.Permissionship),
		MissingContext: res.MissingContext,
		Explanation:    explainToProto(res.Explanation, prov, s.tokenFunc(tenant)),
		Stats: &pb.CheckStats{
			Dispatches: uint32(res.Stats.Dispatches),
			CacheHits:  uint32(res.Stats.CacheHits),
			MaxDepth:   uint32(res.Stats.MaxDepth),
		},
	}, nil
}

package server

import (
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// LookupResources streams the resources of a type the subject has a permission on,
// at most one page (limit, or the server's page limit) per call; each result carries
// the cursor that resumes after it. With batch_size the results travel batch_size to a
// message, which costs the stream far fewer sends for a large answer.
func (s *permissionService) LookupResources(req *pb.LookupResourcesRequest, stream pb.PermissionService_LookupResourcesServer) error {
	ctx := stream.Context()
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return err
	}
	if err := tuple.ValidateTypeName("resource_type", req.GetResourceType()); err != nil {
		return invalidErr(err)
	}
	if err := tuple.ValidateRelationName("permission", req.GetPermission()); err != nil {
		return err
	}
	subject, err := protoconv.SubjectFromProto("subject", req.GetSubject())
	if err != nil {
		return err
	}
	contextual, err := protoconv.RelationshipsFromProto("contextual_relationships", req.GetContextualRelationships())
	if err != nil {
		return err
	}
	rev, err := s.readRevision(ctx, tenant, req.GetConsistency(), engine.MinimizeLatency)
	if err != nil {
		return err
	}

	token := s.token(tenant, rev)
	results := s.engine.LookupResources(ctx, engine.LookupResourcesRequest{
		Tenant:       tenant,
		Revision:     rev,
		ResourceType: req.GetResourceType(),
		Permission:   req.GetPermission(),
		Subject:      subject,
		Context:      protoconv.ContextFromProto(req.GetContext()),
		Contextual:   contextual,
		Limit:        s.limits.lookupLimit(req.GetLimit()),
		Cursor:       req.GetCursor(),
		MaxWork:      s.quotas.ForTenant(tenant).MaxLookupWork,
	})
	batch := newLookupBatcher(req.GetBatchSize(), func(rs []*pb.LookupResourcesResult) error {
		return stream.Send(&pb.LookupResourcesResponse{Token: token, Results: rs})
	})
	found := 0
	for r, err := range results {
		if err != nil {
			return toStatus(err)
		}
		found++
		res := &pb.LookupResourcesResult{
			ResourceId:     r.ResourceID,
			Permissionship: permissionshipToProto(r.Permissionship),
			MissingContext: r.MissingContext,
			Cursor:         r.Cursor,
		}
		if batch.size > 0 {
			err = batch.add(res)
		} else {
			err = stream.Send(&pb.LookupResourcesResponse{
				Token: token, ResourceId: res.ResourceId, Permissionship: res.Permissionship,
				MissingContext: res.MissingContext, Cursor: res.Cursor,
			})
		}
		if err != nil {
			return err
		}
	}
	if err := batch.flush(); err != nil {
		return err
	}
	s.recordLookup(ctx, "lookup_resources", tenant, rev, tuple.ObjectRef{Type: req.GetResourceType()}, req.GetPermission(), subject, found)
	return nil
}

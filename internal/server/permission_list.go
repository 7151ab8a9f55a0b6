package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ListPermissions lists every permission and relation a subject holds on a resource.
func (s *permissionService) ListPermissions(ctx context.Context, req *pb.ListPermissionsRequest) (*pb.ListPermissionsResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	resource, err := protoconv.ObjectFromProto("resource", req.GetResource())
	if err != nil {
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

	perms, err := s.engine.Permissions(ctx, engine.PermissionsRequest{
		Tenant:     tenant,
		Revision:   rev,
		Resource:   resource,
		Subject:    subject,
		Context:    protoconv.ContextFromProto(req.GetContext()),
		Contextual: contextual,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListPermissionsResponse{Token: s.token(tenant, rev)}
	for _, p := range perms {
		out.Permissions = append(out.Permissions, &pb.PermissionEntry{
			Permission:     p.Permission,
			Permissionship: permissionshipToProto(p.Permissionship),
			MissingContext: p.MissingContext,
		})
	}
	return out, nil
}

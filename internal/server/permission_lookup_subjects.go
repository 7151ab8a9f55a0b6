package server

import (
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// LookupSubjects streams the subjects of a type that have a permission on a resource,
// at most one page per call; each result carries the cursor that resumes after it. With
// batch_size the results travel batch_size to a message.
func (s *permissionService) LookupSubjects(req *pb.LookupSubjectsRequest, stream pb.PermissionService_LookupSubjectsServer) error {
	ctx := stream.Context()
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return err
	}
	resource, err := protoconv.ObjectFromProto("resource", req.GetResource())
	if err != nil {
		return err
	}
	if err := tuple.ValidateRelationName("permission", req.GetPermission()); err != nil {
		return err
	}
	if err := tuple.ValidateTypeName("subject_type", req.GetSubjectType()); err != nil {
		return invalidErr(err)
	}
	subjectRelation := req.GetSubjectRelation()
	if subjectRelation == tuple.Ellipsis {
		subjectRelation = ""
	}
	if subjectRelation != "" {
		if err := tuple.ValidateRelationName("subject_relation", subjectRelation); err != nil {
			return err
		}
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
	results := s.engine.LookupSubjects(ctx, engine.LookupSubjectsRequest{
		Tenant:          tenant,
		Revision:        rev,
		Resource:        resource,
		Permission:      req.GetPermission(),
		SubjectType:     req.GetSubjectType(),
		SubjectRelation: subjectRelation,
		Context:         protoconv.ContextFromProto(req.GetContext()),
		Contextual:      contextual,
		Limit:           s.limits.lookupLimit(req.GetLimit()),
		Cursor:          req.GetCursor(),
		MaxWork:         s.quotas.ForTenant(tenant).MaxLookupWork,
	})
	batch := newLookupBatcher(req.GetBatchSize(), func(rs []*pb.LookupSubjectsResult) error {
		return stream.Send(&pb.LookupSubjectsResponse{Token: token, Results: rs})
	})
	found := 0
	for r, err := range results {
		if err != nil {
			return toStatus(err)
		}
		found++
		res := &pb.LookupSubjectsResult{
			SubjectId:          r.SubjectID,
			Permissionship:     permissionshipToProto(r.Permissionship),
			MissingContext:     r.MissingContext,
			ExcludedSubjectIds: r.Excluded,
			Cursor:             r.Cursor,
		}
		if batch.size > 0 {
			err = batch.add(res)
		} else {
			err = stream.Send(&pb.LookupSubjectsResponse{
				Token: token, SubjectId: res.SubjectId, Permissionship: res.Permissionship,
				MissingContext: res.MissingContext, ExcludedSubjectIds: res.ExcludedSubjectIds, Cursor: res.Cursor,
			})
		}
		if err != nil {
			return err
		}
	}
	if err := batch.flush(); err != nil {
		return err
	}
	s.recordLookup(ctx, "lookup_subjects", tenant, rev, resource, req.GetPermission(), tuple.SubjectRef{Type: req.GetSubjectType(), Relation: subjectRelation}, found)
	return nil
}

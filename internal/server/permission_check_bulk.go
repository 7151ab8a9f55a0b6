package server

import (
	"context"
	"fmt"
	"maps"

	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// CheckBulk answers many checks at one revision. A malformed item gets an
// INVALID_ARGUMENT error in its place; the other items are still answered.
func (s *permissionService) CheckBulk(ctx context.Context, req *pb.CheckBulkRequest) (*pb.CheckBulkResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if len(req.GetItems()) == 0 {
		return nil, invalidf("items is empty: a CheckBulk needs at least one item")
	}
	contextual, err := protoconv.RelationshipsFromProto("contextual_relationships", req.GetContextualRelationships())
	if err != nil {
		return nil, err
	}
	rev, err := s.readRevision(ctx, tenant, req.GetConsistency(), engine.MinimizeLatency)
	if err != nil {
		return nil, err
	}

	shared := protoconv.ContextFromProto(req.GetContext())
	items := make([]*pb.CheckBulkResponseItem, len(req.GetItems()))
	var checks []engine.CheckRequest
	var positions []int // checks[i] answers items[positions[i]]
	for i, it := range req.GetItems() {
		check, err := bulkItem(fmt.Sprintf("items[%d]", i), it)
		if err != nil {
			items[i] = &pb.CheckBulkResponseItem{Error: errorToProto(err)}
			continue
		}
		check.Tenant, check.Revision, check.Contextual = tenant, rev, contextual
		check.Context = mergeContext(shared, protoconv.ContextFromProto(it.GetContext()))
		checks = append(checks, check)
		positions = append(positions, i)
	}
	if len(checks) > 0 {
		for j, r := range s.engine.CheckBulk(ctx, checks) {
			item := &pb.CheckBulkResponseItem{}
			if r.Err != nil {
				item.Error = errorToProto(r.Err)
			} else {
				item.Permissionship = permissionshipToProto(r.Result.Permissionship)
				item.MissingContext = r.Result.MissingContext
				c := checks[j]
				s.recordCheck(ctx, "check_bulk", tenant, rev, c.Resource, c.Permission, c.Subject, r.Result)
			}
			items[positions[j]] = item
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, toStatus(err)
	}
	return &pb.CheckBulkResponse{Token: s.token(tenant, rev), Items: items}, nil
}

func bulkItem(field string, it *pb.CheckBulkRequestItem) (engine.CheckRequest, error) {
	resource, err := protoconv.ObjectFromProto(field+".resource", it.GetResource())
	if err != nil {
		return engine.CheckRequest{}, err
	}
	if err := tuple.ValidateRelationName(field+".permission", it.GetPermission()); err != nil {
		return engine.CheckRequest{}, err
	}
	subject, err := protoconv.SubjectFromProto(field+".subject", it.GetSubject())
	if err != nil {
		return engine.CheckRequest{}, err
	}
	return engine.CheckRequest{Resource: resource, Permission: it.GetPermission(), Subject: subject}, nil
}

// mergeContext returns shared overlaid with own (own wins).
func mergeContext(shared, own map[string]any) map[string]any {
	switch {
	case len(own) == 0:
		return shared
	case len(shared) == 0:
		return own
	}
	out := maps.Clone(shared)
	maps.Copy(out, own)
	return out
}

// errorToProto turns an error into the per-item error message, with the code
// toStatus gives it.
func errorToProto(err error) *pb.Error {
	st := status.Convert(toStatus(err))
	return &pb.Error{Code: int32(st.Code()), Status: protoconv.CodeName(st.Code()), Message: st.Message()}
}

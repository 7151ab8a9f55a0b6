package server

import (
	"context"
	"strings"

	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Offboard removes a subject's direct relationships, everywhere or inside an
// organisation's subtree, in one transaction.
func (s *governanceService) Offboard(ctx context.Context, req *pb.OffboardRequest) (*pb.OffboardResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	subject, err := protoconv.SubjectFromProto("subject", req.GetSubject())
	if err != nil {
		return nil, err
	}
	if subject.Relation != "" || subject.IsWildcard() {
		return nil, invalidf("subject %s: offboarding names one object (such as user:alice), without a relation or wildcard", subject)
	}
	org, err := protoconv.OptionalObjectFromProto("organization", req.GetOrganization())
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.GetReason()) == "" {
		return nil, invalidf("reason is required: say why the subject is offboarded (it is kept in the audit trail)")
	}
	actor, err := protoconv.OptionalSubjectFromProto("actor", req.GetActor())
	if err != nil {
		return nil, err
	}

	if req.GetDryRun() {
		return s.previewOffboard(ctx, tenant, actor, req.GetReason(), subject, org)
	}
	res, err := s.writer.Offboard(ctx, s.writeRequest(ctx, tenant, actor, req.GetReason()), subject, org)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.OffboardResponse{Token: s.token(tenant, res.Revision), Removed: protoconv.RelationshipsToProto(res.Removed)}, nil
}

// previewOffboard answers a dry run: what the offboarding would remove at the head
// revision and which delegated grants would stop counting as a consequence. Nothing
// is written or audited.
func (s *governanceService) previewOffboard(ctx context.Context, tenant string, actor *tuple.SubjectRef, reason string, subject tuple.SubjectRef, org *tuple.ObjectRef) (*pb.OffboardResponse, error) {
	res, err := s.writer.PreviewOffboard(ctx, s.writeRequest(ctx, tenant, actor, reason), subject, org)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.OffboardResponse{Token: s.token(tenant, res.Revision), Removed: protoconv.RelationshipsToProto(res.Removed), DryRun: true}
	if len(res.Removed) == 0 {
		return out, nil
	}
	wi, err := s.reviewer.WhatIf(ctx, governance.WhatIfRequest{Tenant: tenant, Revision: res.Revision, Remove: res.Removed})
	if err != nil {
		return nil, toStatus(err)
	}
	out.Ending = endingToProto(wi.Ending)
	return out, nil
}

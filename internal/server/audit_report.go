package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/auditreport"
	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ReadEvidenceReport computes the evidence report of one organisation's subtree at
// the tenant's newest revision. It is computed here rather than in the client so that
// every section reads one snapshot, and so that the key's tenant limits apply to the
// report exactly as to the audit trail it is drawn from.
func (s *auditService) ReadEvidenceReport(ctx context.Context, req *pb.ReadEvidenceReportRequest) (*pb.ReadEvidenceReportResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if req.GetOrganization() == nil {
		return nil, invalidf("organization is required: the report covers one organisation's subtree")
	}
	org, err := protoconv.ObjectFromProto("organization", req.GetOrganization())
	if err != nil {
		return nil, err
	}
	for i, p := range req.GetPermissions() {
		if err := tuple.ValidateRelationName(fmt.Sprintf("permissions[%d]", i), p); err != nil {
			return nil, invalidErr(err)
		}
	}
	// The period shares the audit query's rules (valid times, since before until).
	period, err := auditFilterFromProto(&pb.ReadAuditLogRequest{Since: req.GetSince(), Until: req.GetUntil()})
	if err != nil {
		return nil, err
	}
	rev, err := s.readRevision(ctx, tenant, nil, engine.FullyConsistent)
	if err != nil {
		return nil, err
	}
	src := auditreport.Sources{Store: s.ds, Engine: s.engine, Reviewer: s.reviewer, Now: s.writer.Now}
	if s.decisions != nil {
		src.Decisions = s.decisions.Store()
	}
	rep, err := auditreport.Build(ctx, src, auditreport.Request{
		Tenant: tenant, Revision: rev, Organization: org,
		Since: period.Since, Until: period.Until, Permissions: req.GetPermissions(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReadEvidenceReportResponse{Report: s.reportToProto(rep)}, nil
}

func (s *auditService) reportToProto(r *auditreport.Report) *pb.EvidenceReport {
	token := s.tokenFunc(r.Tenant)
	out := &pb.EvidenceReport{
		Tenant:             r.Tenant,
		Organization:       protoconv.ObjectToProto(r.Organization),
		GeneratedAt:        timestamppb.New(r.GeneratedAt),
		Token:              token(r.Revision),
		Until:              timestamppb.New(r.Until),
		DecisionLogEnabled: r.DecisionLog,
		Truncated:          r.Truncated,
	}
	if !r.Since.IsZero() {
		out.Since = timestamppb.New(r.Since)
	}
	for _, o := range r.Objects {
		out.Objects = append(out.Objects, protoconv.ObjectToProto(o))
	}
	for _, g := range r.Grants {
		out.Grants = append(out.Grants, evidenceGrantToProto(g, token))
	}
	for _, a := range r.Access {
		e := &pb.EvidenceAccess{
			Subject:        protoconv.SubjectToProto(a.Subject),
			Resource:       protoconv.ObjectToProto(a.Resource),
			Permission:     a.Permission,
			Permissionship: permissionshipToProto(a.Permissionship),
		}
		for _, g := range a.Path {
			e.Path = append(e.Path, evidenceGrantToProto(g, token))
		}
		out.Access = append(out.Access, e)
	}
	for _, tx := range r.Changes {
		out.Changes = append(out.Changes, transactionToProto(r.Tenant, tx, token(tx.Revision)))
	}
	for _, d := range r.Decisions {
		out.Decisions = append(out.Decisions, s.decisionToProto(d))
	}
	return out
}

func evidenceGrantToProto(g auditreport.Grant, token func(datastore.Revision) string) *pb.EvidenceGrant {
	out := &pb.EvidenceGrant{Relationship: protoconv.RelationshipToProto(g.Relationship)}
	if g.Provenance != nil {
		out.Provenance = provenanceToProto(*g.Provenance, token)
		out.Operation = g.Provenance.Operation
	}
	return out
}

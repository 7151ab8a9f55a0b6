package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ReadAuditLog returns one page of the audit trail matching a query, newest first.
// The page token is the revision token of the last transaction returned: the next
// page starts just before it. With all_tenants the query spans tenants (see
// readAuditLogAcrossTenants).
func (s *auditService) ReadAuditLog(ctx context.Context, req *pb.ReadAuditLogRequest) (*pb.ReadAuditLogResponse, error) {
	filter, err := auditFilterFromProto(req)
	if err != nil {
		return nil, err
	}
	size := s.limits.pageSize(req.GetPageSize())
	filter.Limit = size + 1 // one more tells whether another page exists
	if req.GetAllTenants() {
		if req.GetTenant() != "" {
			return nil, invalidf("tenant (%q) and all_tenants are exclusive: name tenants to read in tenants", req.GetTenant())
		}
		return s.readAuditLogAcrossTenants(ctx, req, filter, size)
	}
	if len(req.GetTenants()) > 0 {
		return nil, invalidf("tenants is a filter of all_tenants queries: set all_tenants, or name one tenant in tenant")
	}
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if req.GetPageToken() != "" {
		if filter.Before, err = s.decodeToken("page_token", tenant, req.GetPageToken()); err != nil {
			return nil, err
		}
	}

	head, err := s.ds.HeadRevision(ctx, tenant)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ReadAuditLogResponse{Token: s.token(tenant, head)}
	for tx, err := range s.ds.ReadTransactions(ctx, tenant, filter) {
		if err != nil {
			return nil, toStatus(err)
		}
		if len(out.Transactions) == size {
			last := out.Transactions[size-1]
			out.NextPageToken = last.GetToken()
			break
		}
		out.Transactions = append(out.Transactions, transactionToProto(tenant, tx, s.token(tenant, tx.Revision)))
	}
	return out, nil
}

// auditFilterFromProto converts the query fields shared by single- and cross-tenant
// reads; the cursor and limit are the caller's.
func auditFilterFromProto(req *pb.ReadAuditLogRequest) (datastore.TransactionFilter, error) {
	filter := datastore.TransactionFilter{Principal: req.GetPrincipal()}
	var err error
	if filter.Actor, err = protoconv.OptionalSubjectFromProto("actor", req.GetActor()); err != nil {
		return filter, err
	}
	if filter.Resource, err = protoconv.ObjectPatternFromProto("resource", req.GetResource()); err != nil {
		return filter, err
	}
	if filter.Subject, err = protoconv.ObjectPatternFromProto("subject", req.GetSubject()); err != nil {
		return filter, err
	}
	if filter.Organization, err = protoconv.ObjectPatternFromProto("organization", req.GetOrganization()); err != nil {
		return filter, err
	}
	if ts := req.GetSince(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return filter, fieldErr("since", err)
		}
		filter.Since = ts.AsTime()
	}
	if ts := req.GetUntil(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return filter, fieldErr("until", err)
		}
		filter.Until = ts.AsTime()
	}
	if !filter.Since.IsZero() && !filter.Until.IsZero() && !filter.Since.Before(filter.Until) {
		return filter, invalidf("since (%s) must be before until (%s)", filter.Since, filter.Until)
	}
	return filter, nil
}

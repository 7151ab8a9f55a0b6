package server

import (
	"context"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ListInbox lists the pending requests the actor may approve or deny, a page at a time.
func (s *accessRequestService) ListInbox(ctx context.Context, req *pb.ListInboxRequest) (*pb.ListInboxResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	actor, err := requestActor(req.GetActor())
	if err != nil {
		return nil, err
	}
	rev, q, err := s.requestQuery(ctx, tenant, req.GetFilter(), req.GetPageSize(), req.GetPageToken(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	page, err := s.writer.ListAccessRequestInbox(ctx, tenant, rev, actor, q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListInboxResponse{}
	out.Requests, out.NextPageToken = s.requestPage(tenant, rev, page)
	return out, nil
}

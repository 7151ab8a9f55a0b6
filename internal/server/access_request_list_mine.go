package server

import (
	"context"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ListMyRequests lists the requests the actor made, oldest first, a page at a time.
func (s *accessRequestService) ListMyRequests(ctx context.Context, req *pb.ListMyRequestsRequest) (*pb.ListMyRequestsResponse, error) {
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
	page, err := s.writer.ListMyAccessRequests(ctx, tenant, rev, actor, q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListMyRequestsResponse{}
	out.Requests, out.NextPageToken = s.requestPage(tenant, rev, page)
	return out, nil
}

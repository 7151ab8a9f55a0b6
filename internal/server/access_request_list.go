package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ListMyRequests lists the requests the actor made, oldest first, a page at a time.
func (s *accessRequestService) ListMyRequests(ctx context.Context, req *pb.ListMyRequestsRequest) (*pb.ListMyRequestsResponse, error) {
	reqs, next, err := s.listRequests(ctx, req, s.writer.ListMyAccessRequests)
	if err != nil {
		return nil, err
	}
	return &pb.ListMyRequestsResponse{Requests: reqs, NextPageToken: next}, nil
}

// ListInbox lists the pending requests the actor may approve or deny, a page at a time.
func (s *accessRequestService) ListInbox(ctx context.Context, req *pb.ListInboxRequest) (*pb.ListInboxResponse, error) {
	reqs, next, err := s.listRequests(ctx, req, s.writer.ListAccessRequestInbox)
	if err != nil {
		return nil, err
	}
	return &pb.ListInboxResponse{Requests: reqs, NextPageToken: next}, nil
}

// requestListing is what both listings of access requests ask.
type requestListing interface {
	GetTenant() string
	GetActor() *pb.SubjectReference
	GetFilter() *pb.AccessRequestFilter
	GetPageSize() uint32
	GetPageToken() string
	GetConsistency() *pb.Consistency
}

// listRequests reads one page of a listing for the request's actor.
func (s *accessRequestService) listRequests(ctx context.Context, req requestListing,
	list func(context.Context, string, datastore.Revision, tuple.SubjectRef, requests.Query) (requests.Page, error),
) ([]*pb.AccessRequest, string, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, "", err
	}
	actor, err := requestActor(req.GetActor())
	if err != nil {
		return nil, "", err
	}
	rev, q, err := s.requestQuery(ctx, tenant, req.GetFilter(), req.GetPageSize(), req.GetPageToken(), req.GetConsistency())
	if err != nil {
		return nil, "", err
	}
	page, err := list(ctx, tenant, rev, actor, q)
	if err != nil {
		return nil, "", toStatus(err)
	}
	reqs, next := s.requestPage(tenant, rev, page)
	return reqs, next, nil
}

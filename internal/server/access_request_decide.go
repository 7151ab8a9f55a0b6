package server

import (
	"context"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ApproveAccessRequest approves a request for the actor's party; the last approval
// writes the relationship in the same transaction.
func (s *accessRequestService) ApproveAccessRequest(ctx context.Context, req *pb.ApproveAccessRequestRequest) (*pb.ApproveAccessRequestResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	wr, err := s.decisionRequest(ctx, tenant, req.GetActor(), req.GetId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	d, err := durationFromProto("duration", req.GetDuration())
	if err != nil {
		return nil, err
	}
	r, err := s.writer.ApproveAccessRequest(ctx, wr, req.GetId(), d)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ApproveAccessRequestResponse{Request: s.accessRequestToProto(tenant, r)}, nil
}

// DenyAccessRequest denies a pending request.
func (s *accessRequestService) DenyAccessRequest(ctx context.Context, req *pb.DenyAccessRequestRequest) (*pb.DenyAccessRequestResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	wr, err := s.decisionRequest(ctx, tenant, req.GetActor(), req.GetId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	r, err := s.writer.DenyAccessRequest(ctx, wr, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DenyAccessRequestResponse{Request: s.accessRequestToProto(tenant, r)}, nil
}

// CancelAccessRequest withdraws a pending request; only its requester may.
func (s *accessRequestService) CancelAccessRequest(ctx context.Context, req *pb.CancelAccessRequestRequest) (*pb.CancelAccessRequestResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	wr, err := s.decisionRequest(ctx, tenant, req.GetActor(), req.GetId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	r, err := s.writer.CancelAccessRequest(ctx, wr, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CancelAccessRequestResponse{Request: s.accessRequestToProto(tenant, r)}, nil
}

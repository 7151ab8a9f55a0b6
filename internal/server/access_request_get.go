package server

import (
	"context"
	"strings"

	"github.com/pemba-authz/pemba/internal/engine"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// GetAccessRequest reads one request.
func (s *accessRequestService) GetAccessRequest(ctx context.Context, req *pb.GetAccessRequestRequest) (*pb.GetAccessRequestResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.GetId()) == "" {
		return nil, invalidf("id is required: the access request's id")
	}
	rev, err := s.readRevision(ctx, tenant, req.GetConsistency(), engine.FullyConsistent)
	if err != nil {
		return nil, err
	}
	r, err := s.writer.GetAccessRequest(ctx, tenant, rev, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetAccessRequestResponse{Request: s.accessRequestToProto(tenant, r)}, nil
}

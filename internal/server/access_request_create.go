package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/write"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// CreateAccessRequest files a request for one relationship on behalf of the actor.
func (s *accessRequestService) CreateAccessRequest(ctx context.Context, req *pb.CreateAccessRequestRequest) (*pb.CreateAccessRequestResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	actor, err := requestActor(req.GetActor())
	if err != nil {
		return nil, err
	}
	if req.GetRelationship() == nil {
		return nil, invalidf("relationship is required: the resource#relation@subject asked for")
	}
	rel, err := protoconv.RelationshipFromProto("relationship", req.GetRelationship())
	if err != nil {
		return nil, err
	}
	if rel.Caveat != nil || rel.HasExpiration() || rel.Granted != nil {
		return nil, invalidf("relationship %s: a request asks for the relationship alone; give its lifetime as duration, and no caveat or grant", rel.Key())
	}
	org, err := protoconv.OptionalObjectFromProto("organization", req.GetOrganization())
	if err != nil {
		return nil, err
	}
	d, err := durationFromProto("duration", req.GetDuration())
	if err != nil {
		return nil, err
	}
	in := write.NewAccessRequest{Resource: rel.Resource, Relation: rel.Relation, Subject: rel.Subject, Organization: org, Duration: d}
	r, created, err := s.writer.CreateAccessRequest(ctx, s.writeRequest(ctx, tenant, &actor, req.GetReason()), in)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CreateAccessRequestResponse{Request: s.accessRequestToProto(tenant, r), Created: created}, nil
}

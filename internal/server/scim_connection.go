package server

import (
	"context"
	"strings"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/scim"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// scimConnectionService manages SCIM connections; the /scim/v2 endpoints that the
// directories call are in scim_http.go.
type scimConnectionService struct {
	pb.UnimplementedScimConnectionServiceServer
	*Server
}

// scimActor reads an optional acting subject.
func scimActor(a *pb.SubjectReference) (*tuple.SubjectRef, error) {
	if a == nil {
		return nil, nil
	}
	s, err := protoconv.SubjectFromProto("actor", a)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func roleMappingsFromProto(ms []*pb.ScimRoleMapping) []scim.RoleMapping {
	out := make([]scim.RoleMapping, len(ms))
	for i, m := range ms {
		out[i] = scim.RoleMapping{Group: strings.TrimSpace(m.GetGroup()), Relation: m.GetRelation()}
	}
	return out
}

func (s *Server) scimConnectionToProto(tenant string, c scim.Connection) *pb.ScimConnection {
	out := &pb.ScimConnection{
		Name: c.Name, Organization: protoconv.ObjectToProto(c.Organization), Creator: protoconv.OptionalSubjectToProto(c.Creator),
		CreatedByKey: c.CreatedByKey, CreatedAt: optTimestamp(c.CreatedAt), RotatedAt: optTimestamp(c.RotatedAt),
		RevokedAt: optTimestamp(c.RevokedAt), TokenHint: c.TokenHint, Token: s.token(tenant, c.Revision),
	}
	for _, m := range c.RoleMappings {
		out.RoleMappings = append(out.RoleMappings, &pb.ScimRoleMapping{Group: m.Group, Relation: m.Relation})
	}
	return out
}

// scimBaseURL is the URL directories are given: the public URL when configured,
// else the HTTP listener's address.
func (s *Server) scimBaseURL() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/") + scimBasePath
	}
	scheme := "http"
	if s.cfg.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + s.HTTPAddr() + scimBasePath
}

// CreateScimConnection creates a connection and returns its token once.
func (s *scimConnectionService) CreateScimConnection(ctx context.Context, req *pb.CreateScimConnectionRequest) (*pb.CreateScimConnectionResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	actor, err := scimActor(req.GetActor())
	if err != nil {
		return nil, err
	}
	if req.GetOrganization() == nil {
		return nil, invalidf("organization is required: the organisation the directory provisions, such as organization:acme")
	}
	org, err := protoconv.ObjectFromProto("organization", req.GetOrganization())
	if err != nil {
		return nil, err
	}
	in := write.NewScimConnection{Name: req.GetName(), Organization: org, RoleMappings: roleMappingsFromProto(req.GetRoleMappings())}
	c, token, err := s.writer.CreateScimConnection(ctx, s.writeRequest(ctx, tenant, actor, req.GetReason()), in)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CreateScimConnectionResponse{Connection: s.scimConnectionToProto(tenant, c), SecretToken: token, BaseUrl: s.scimBaseURL()}, nil
}

// ListScimConnections lists the tenant's connections.
func (s *scimConnectionService) ListScimConnections(ctx context.Context, req *pb.ListScimConnectionsRequest) (*pb.ListScimConnectionsResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	cs, err := s.writer.ListScimConnections(ctx, tenant)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListScimConnectionsResponse{}
	for _, c := range cs {
		out.Connections = append(out.Connections, s.scimConnectionToProto(tenant, c))
	}
	return out, nil
}

// RotateScimConnectionToken replaces a connection's token.
func (s *scimConnectionService) RotateScimConnectionToken(ctx context.Context, req *pb.RotateScimConnectionTokenRequest) (*pb.RotateScimConnectionTokenResponse, error) {
	wr, err := s.scimChangeRequest(ctx, req.GetTenant(), req.GetActor(), req.GetReason())
	if err != nil {
		return nil, err
	}
	c, token, err := s.writer.RotateScimConnection(ctx, wr, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RotateScimConnectionTokenResponse{Connection: s.scimConnectionToProto(wr.Tenant, c), SecretToken: token, BaseUrl: s.scimBaseURL()}, nil
}

// RevokeScimConnection revokes a connection.
func (s *scimConnectionService) RevokeScimConnection(ctx context.Context, req *pb.RevokeScimConnectionRequest) (*pb.RevokeScimConnectionResponse, error) {
	wr, err := s.scimChangeRequest(ctx, req.GetTenant(), req.GetActor(), req.GetReason())
	if err != nil {
		return nil, err
	}
	c, err := s.writer.RevokeScimConnection(ctx, wr, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RevokeScimConnectionResponse{Connection: s.scimConnectionToProto(wr.Tenant, c)}, nil
}

// SetScimRoleMappings replaces a connection's role mappings.
func (s *scimConnectionService) SetScimRoleMappings(ctx context.Context, req *pb.SetScimRoleMappingsRequest) (*pb.SetScimRoleMappingsResponse, error) {
	wr, err := s.scimChangeRequest(ctx, req.GetTenant(), req.GetActor(), req.GetReason())
	if err != nil {
		return nil, err
	}
	c, err := s.writer.SetScimRoleMappings(ctx, wr, req.GetName(), roleMappingsFromProto(req.GetRoleMappings()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SetScimRoleMappingsResponse{Connection: s.scimConnectionToProto(wr.Tenant, c)}, nil
}

func (s *Server) scimChangeRequest(ctx context.Context, tenant string, a *pb.SubjectReference, reason string) (write.Request, error) {
	t, err := tenantName(tenant)
	if err != nil {
		return write.Request{}, err
	}
	actor, err := scimActor(a)
	if err != nil {
		return write.Request{}, err
	}
	return s.writeRequest(ctx, t, actor, reason), nil
}

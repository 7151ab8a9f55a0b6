package server

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// CreateTenant creates an empty tenant.
func (s *tenantService) CreateTenant(ctx context.Context, req *pb.CreateTenantRequest) (*pb.CreateTenantResponse, error) {
	if req.GetTenant() == "" {
		return nil, invalidf("tenant is required: the name of the tenant to create")
	}
	name, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := s.ds.CreateTenant(ctx, name); err != nil {
		return nil, toStatus(err)
	}
	tenants, err := s.ds.ListTenants(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	for _, t := range tenants {
		if t.Name == name {
			return &pb.CreateTenantResponse{Tenant: tenantToProto(t)}, nil
		}
	}
	return &pb.CreateTenantResponse{Tenant: &pb.Tenant{Name: name}}, nil
}

// ListTenants lists every tenant, ordered by name.
func (s *tenantService) ListTenants(ctx context.Context, _ *pb.ListTenantsRequest) (*pb.ListTenantsResponse, error) {
	tenants, err := s.ds.ListTenants(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListTenantsResponse{}
	for _, t := range tenants {
		out.Tenants = append(out.Tenants, tenantToProto(t))
	}
	return out, nil
}

// DeleteTenant deletes a tenant and everything it owns.
func (s *tenantService) DeleteTenant(ctx context.Context, req *pb.DeleteTenantRequest) (*pb.DeleteTenantResponse, error) {
	if req.GetTenant() == "" {
		return nil, invalidf("tenant is required: the name of the tenant to delete")
	}
	name, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if name == tuple.DefaultTenant {
		return nil, invalidf("tenant %q cannot be deleted: it always exists", name)
	}
	if err := s.ds.DeleteTenant(ctx, name); err != nil {
		return nil, toStatus(err)
	}
	s.engine.ForgetTenant(name)
	return &pb.DeleteTenantResponse{}, nil
}

func tenantToProto(t datastore.TenantInfo) *pb.Tenant {
	out := &pb.Tenant{Name: t.Name}
	if !t.CreatedAt.IsZero() {
		out.CreatedAt = timestamppb.New(t.CreatedAt)
	}
	return out
}

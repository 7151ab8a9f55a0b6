package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ReadSchema returns the schema text in force at the read revision.
func (s *schemaService) ReadSchema(ctx context.Context, req *pb.ReadSchemaRequest) (*pb.ReadSchemaResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	rev, err := s.readRevision(ctx, tenant, req.GetConsistency(), engine.MinimizeLatency)
	if err != nil {
		return nil, err
	}

	stored, err := s.ds.SnapshotReader(tenant, rev).ReadSchema(ctx)
	if errors.Is(err, datastore.ErrSchemaNotFound) {
		return nil, status.Errorf(codes.NotFound, "tenant %q has no schema at this revision: write one first", tenant)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReadSchemaResponse{Token: s.token(tenant, rev), Schema: stored.Text}, nil
}

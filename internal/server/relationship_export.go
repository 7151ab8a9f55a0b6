package server

import (
	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// exportBatch is how many relationships one export message carries.
const exportBatch = 1000

// ExportRelationships streams every relationship of the tenant (or those matching a
// filter) at one revision, in batches; each batch's cursor resumes after it.
func (s *relationshipService) ExportRelationships(req *pb.ExportRelationshipsRequest, stream pb.RelationshipService_ExportRelationshipsServer) error {
	ctx := stream.Context()
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return err
	}
	var filter datastore.RelationshipFilter
	if req.GetFilter() != nil {
		if filter, err = filterFromProto("filter", req.GetFilter()); err != nil {
			return err
		}
	}
	rev, after, err := s.pageStart(ctx, tenant, req.GetConsistency(), req.GetCursor())
	if err != nil {
		return err
	}

	token := s.token(tenant, rev)
	reader := s.ds.SnapshotReader(tenant, rev)
	batch := make([]tuple.Relationship, 0, exportBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		last := batch[len(batch)-1].Key()
		err := stream.Send(&pb.ExportRelationshipsResponse{
			Token:         token,
			Relationships: protoconv.RelationshipsToProto(batch),
			Cursor:        s.readCursor(tenant, rev, last),
		})
		batch = batch[:0]
		return err
	}
	for rel, err := range reader.QueryRelationships(ctx, filter, datastore.QueryOptions{After: after}) {
		if err != nil {
			return toStatus(err)
		}
		batch = append(batch, rel)
		if len(batch) == exportBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

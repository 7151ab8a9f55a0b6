package server

import (
	"errors"
	"fmt"
	"io"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ImportRelationships writes a client stream of relationships with touch semantics,
// in batches that each commit on their own (the write path's import is idempotent, so
// an interrupted import is resumed by running it again). Every message must name the
// tenant of the first one; the first message's reason is recorded.
func (s *relationshipService) ImportRelationships(stream pb.RelationshipService_ImportRelationshipsServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return invalidf("the import stream is empty: send at least one message with relationships")
	}
	if err != nil {
		return err
	}
	tenant, err := tenantName(first.GetTenant())
	if err != nil {
		return err
	}

	relationships := func(yield func(tuple.Relationship, error) bool) {
		msg, n := first, 0
		for i := 1; ; i++ {
			t, err := tenantName(msg.GetTenant())
			if err == nil && t != tenant {
				err = invalidf("message %d names tenant %q, but the import is into tenant %q", i, t, tenant)
			}
			if err != nil {
				yield(tuple.Relationship{}, err)
				return
			}
			for j, r := range msg.GetRelationships() {
				n++
				rel, err := protoconv.RelationshipFromProto(fmt.Sprintf("message %d relationships[%d] (relationship %d of the import)", i, j, n), r)
				if !yield(rel, err) || err != nil {
					return
				}
			}
			msg, err = stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(tuple.Relationship{}, err)
				return
			}
		}
	}

	res, err := s.writer.Import(ctx, s.writeRequest(ctx, tenant, nil, first.GetReason()), relationships)
	if err != nil {
		return toStatus(err)
	}
	out := &pb.ImportRelationshipsResponse{Count: uint64(res.Count)}
	if res.Count > 0 {
		out.Token = s.token(tenant, res.Revision)
	} else {
		head, err := s.ds.HeadRevision(ctx, tenant)
		if err != nil {
			return toStatus(err)
		}
		out.Token = s.token(tenant, head)
	}
	return stream.SendAndClose(out)
}

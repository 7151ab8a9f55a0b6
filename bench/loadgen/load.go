package loadgen

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// WriteSchema writes the schema text to the suite's tenant.
func (s *Suite) WriteSchema(ctx context.Context, text string) error {
	_, err := s.Client.Schema().WriteSchema(ctx, &pb.WriteSchemaRequest{Tenant: s.Tenant, Schema: text, Reason: "benchmark"})
	if err != nil {
		return fmt.Errorf("writing the schema: %w", err)
	}
	return nil
}

// Import streams relationships to the server through one ImportRelationships call, in
// messages of batch relationships, and reports the rate measured from the first
// message to the server's answer (conversion to the wire form included, as for any
// client). progress, when set, is called after each message.
func (s *Suite) Import(ctx context.Context, rels iter.Seq[tuple.Relationship], batch int, progress func(sent uint64)) (ImportResult, error) {
	if batch < 1 {
		return ImportResult{}, fmt.Errorf("import batch %d must be at least 1", batch)
	}
	start := time.Now()
	stream, err := s.Client.Relationships().ImportRelationships(ctx)
	if err != nil {
		return ImportResult{}, err
	}
	msg := &pb.ImportRelationshipsRequest{Tenant: s.Tenant, Reason: "benchmark dataset"}
	var sent uint64
	flush := func() error {
		if len(msg.Relationships) == 0 {
			return nil
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		sent += uint64(len(msg.Relationships))
		if progress != nil {
			progress(sent)
		}
		msg = &pb.ImportRelationshipsRequest{Tenant: s.Tenant, Relationships: make([]*pb.Relationship, 0, batch)}
		return nil
	}
	for r := range rels {
		msg.Relationships = append(msg.Relationships, protoconv.RelationshipToProto(r))
		if len(msg.Relationships) == batch {
			if err := flush(); err != nil {
				break // the server's reason comes from CloseAndRecv
			}
		}
	}
	if err := flush(); err != nil {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return ImportResult{}, fmt.Errorf("import failed after %d relationships: %w", sent, rerr)
		}
		return ImportResult{}, fmt.Errorf("import failed after %d relationships: %w", sent, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return ImportResult{}, fmt.Errorf("import failed after %d relationships sent: %w", sent, err)
	}
	if resp.GetCount() != sent {
		return ImportResult{}, fmt.Errorf("import sent %d relationships, server wrote %d", sent, resp.GetCount())
	}
	el := time.Since(start)
	return ImportResult{Relationships: sent, Seconds: el.Seconds(), PerSecond: float64(sent) / el.Seconds()}, nil
}

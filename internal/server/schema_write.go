package server

import (
	"context"
	"strings"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// WriteSchema compiles and stores a schema, or with dry_run reports the diff and any
// refusal without writing.
func (s *schemaService) WriteSchema(ctx context.Context, req *pb.WriteSchemaRequest) (*pb.WriteSchemaResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.GetSchema()) == "" {
		return nil, invalidf("schema is empty: send the schema text")
	}

	res, err := s.writer.WriteSchema(ctx, s.writeRequest(ctx, tenant, nil, req.GetReason()), req.GetSchema(), req.GetDryRun())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.WriteSchemaResponse{Diff: res.Diff, Applied: !req.GetDryRun()}
	if res.Refused != nil {
		out.Refusal = res.Refused.Error()
		out.Applied = false
	}
	rev := res.Revision
	if !out.Applied {
		// A dry run commits nothing; report the revision it was compared against.
		if rev, err = s.ds.HeadRevision(ctx, tenant); err != nil {
			return nil, toStatus(err)
		}
	}
	out.Token = s.token(tenant, rev)
	return out, nil
}

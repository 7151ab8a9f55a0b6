package server

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ReadRelationships streams the stored relationships matching a filter, at most one
// page per call. Each relationship carries a cursor that resumes after it at the same
// revision.
func (s *relationshipService) ReadRelationships(req *pb.ReadRelationshipsRequest, stream pb.RelationshipService_ReadRelationshipsServer) error {
	ctx := stream.Context()
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return err
	}
	filter, err := filterFromProto("filter", req.GetFilter())
	if err != nil {
		return err
	}
	rev, after, err := s.pageStart(ctx, tenant, req.GetConsistency(), req.GetCursor())
	if err != nil {
		return err
	}

	token := s.token(tenant, rev)
	opts := datastore.QueryOptions{Limit: s.limits.pageSize(req.GetLimit()), After: after}
	for rel, err := range s.ds.SnapshotReader(tenant, rev).QueryRelationships(ctx, filter, opts) {
		if err != nil {
			return toStatus(err)
		}
		if err := stream.Send(&pb.ReadRelationshipsResponse{
			Token:        token,
			Relationship: protoconv.RelationshipToProto(rel),
			Cursor:       s.readCursor(tenant, rev, rel.Key()),
		}); err != nil {
			return err
		}
	}
	return nil
}

// pageStart returns the revision and position a read starts at: the cursor's when one
// is given, else the consistency's revision from the beginning.
func (s *Server) pageStart(ctx context.Context, tenant string, c *pb.Consistency, cursor string) (datastore.Revision, *tuple.Key, error) {
	if cursor == "" {
		rev, err := s.readRevision(ctx, tenant, c, engine.MinimizeLatency)
		return rev, nil, err
	}
	rev, key, err := s.decodeReadCursor(tenant, cursor)
	if err != nil {
		return 0, nil, err
	}
	rev, err = s.engine.ResolveRevision(ctx, tenant, engine.Consistency{Mode: engine.AtExactSnapshot, Revision: rev})
	if err != nil {
		return 0, nil, toStatus(err)
	}
	return rev, &key, nil
}

// A read cursor is the revision token, "~", and the base64 of the last key's six
// parts joined by NUL. Carrying the token binds the cursor to the store, the tenant
// and the revision, so a page continues exactly the snapshot it started on.
const cursorSep = "~"

func (s *Server) readCursor(tenant string, rev datastore.Revision, k tuple.Key) string {
	raw := strings.Join([]string{k.ResourceType, k.ResourceID, k.Relation, k.SubjectType, k.SubjectID, k.SubjectRel}, "\x00")
	return s.token(tenant, rev) + cursorSep + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func (s *Server) decodeReadCursor(tenant, cursor string) (datastore.Revision, tuple.Key, error) {
	tok, body, ok := strings.Cut(cursor, cursorSep)
	if !ok {
		return 0, tuple.Key{}, invalidf("cursor %q is malformed: pass the cursor of a result of the same call", truncate(cursor))
	}
	rev, err := s.decodeToken("cursor", tenant, tok)
	if err != nil {
		return 0, tuple.Key{}, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 6 {
		return 0, tuple.Key{}, invalidf("cursor %q is malformed: pass the cursor of a result of the same call", truncate(cursor))
	}
	return rev, tuple.Key{
		ResourceType: parts[0], ResourceID: parts[1], Relation: parts[2],
		SubjectType: parts[3], SubjectID: parts[4], SubjectRel: parts[5],
	}, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

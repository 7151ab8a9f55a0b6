package server

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ReviewAccess lists what a subject can reach inside an organisation's subtree and
// the path of relationships that gives it, one page at a time. Every page reads at the
// revision of the first, which its page token carries.
func (s *governanceService) ReviewAccess(ctx context.Context, req *pb.ReviewAccessRequest) (*pb.ReviewAccessResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	subject, err := protoconv.SubjectFromProto("subject", req.GetSubject())
	if err != nil {
		return nil, err
	}
	org, err := protoconv.OptionalObjectFromProto("organization", req.GetOrganization())
	if err != nil {
		return nil, err
	}
	for i, t := range req.GetResourceTypes() {
		if err := tuple.ValidateTypeName(fmt.Sprintf("resource_types[%d]", i), t); err != nil {
			return nil, invalidErr(err)
		}
	}
	for i, p := range req.GetPermissions() {
		if err := tuple.ValidateRelationName(fmt.Sprintf("permissions[%d]", i), p); err != nil {
			return nil, err
		}
	}
	rev, offset, err := s.reviewPageStart(ctx, tenant, req.GetConsistency(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	size := s.limits.pageSize(req.GetPageSize())

	access, err := s.reviewer.Access(ctx, governance.AccessRequest{
		Tenant:        tenant,
		Revision:      rev,
		Subject:       subject,
		Organization:  org,
		ResourceTypes: req.GetResourceTypes(),
		Permissions:   req.GetPermissions(),
		Limit:         offset + size + 1,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ReviewAccessResponse{Token: s.token(tenant, rev)}
	access, out.NextPageToken = pageOf(access, offset, size, func(next int) string { return s.reviewPageToken(tenant, rev, next) })
	for _, a := range access {
		e := &pb.AccessEntry{
			Resource:       protoconv.ObjectToProto(a.Resource),
			Permission:     a.Permission,
			Permissionship: permissionshipToProto(a.Permissionship),
		}
		if len(a.Path) > 0 {
			e.Paths = []*pb.AccessPath{{Relationships: protoconv.RelationshipsToProto(a.Path)}}
		}
		out.Entries = append(out.Entries, e)
	}
	return out, nil
}

// Review page tokens are the revision token, "~" and the offset of the next entry.
// Reviews are computed afresh for each page at the pinned revision, so offsets are
// stable.

func (s *Server) reviewPageToken(tenant string, rev datastore.Revision, offset int) string {
	return s.token(tenant, rev) + cursorSep + strconv.Itoa(offset)
}

func (s *Server) reviewPageStart(ctx context.Context, tenant string, c *pb.Consistency, pageToken string) (datastore.Revision, int, error) {
	if pageToken == "" {
		rev, err := s.readRevision(ctx, tenant, c, engine.FullyConsistent)
		return rev, 0, err
	}
	tok, off, ok := strings.Cut(pageToken, cursorSep)
	offset, err := strconv.Atoi(off)
	if !ok || err != nil || offset < 0 {
		return 0, 0, invalidf("page_token %q is malformed: pass the next_page_token of the previous page", truncate(pageToken))
	}
	rev, err := s.decodeToken("page_token", tenant, tok)
	if err != nil {
		return 0, 0, err
	}
	rev, err = s.engine.ResolveRevision(ctx, tenant, engine.Consistency{Mode: engine.AtExactSnapshot, Revision: rev})
	if err != nil {
		return 0, 0, toStatus(err)
	}
	return rev, offset, nil
}

// pageOf cuts the page [offset, offset+size) out of items fetched with a limit of
// offset+size+1, and returns the next page's token when there is more.
func pageOf[T any](items []T, offset, size int, token func(next int) string) ([]T, string) {
	if offset >= len(items) {
		return nil, ""
	}
	items = items[offset:]
	if len(items) > size {
		return items[:size], token(offset + size)
	}
	return items, ""
}

package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// tenantName returns the tenant a request names, "default" when it names none, after
// checking the name.
func tenantName(t string) (string, error) {
	if t == "" {
		return tuple.DefaultTenant, nil
	}
	if err := tuple.ValidateTenantName(t); err != nil {
		return "", invalidErr(err)
	}
	return t, nil
}

// token encodes a revision of a tenant as the opaque token clients hold.
func (s *Server) token(tenant string, rev datastore.Revision) string {
	return datastore.EncodeToken(s.ds.UniqueID(), tenant, rev)
}

// tokenFunc is token bound to one tenant, for conversions that meet many revisions.
func (s *Server) tokenFunc(tenant string) func(datastore.Revision) string {
	return func(rev datastore.Revision) string { return s.token(tenant, rev) }
}

// decodeToken reads a client's token; field names the request field it came from.
func (s *Server) decodeToken(field, tenant, token string) (datastore.Revision, error) {
	if token == "" {
		return 0, invalidf("%s is empty: pass a token returned by an earlier call", field)
	}
	rev, err := datastore.DecodeToken(token, s.ds.UniqueID(), tenant)
	if err != nil {
		return 0, fieldErr(field, err)
	}
	return rev, nil
}

// consistency converts a request's consistency; unset, it is the mode the RPC
// defaults to (minimize_latency for checks and reads, fully_consistent for governance
// reads, which people run right after the writes they review). A requirement this
// server does not know (a newer client's field) is refused rather than silently read
// at some other revision.
func (s *Server) consistency(tenant string, c *pb.Consistency, unset engine.ConsistencyMode) (engine.Consistency, error) {
	if c == nil {
		return engine.Consistency{Mode: unset}, nil
	}
	if len(c.ProtoReflect().GetUnknown()) > 0 {
		return engine.Consistency{}, invalidf("consistency: unknown requirement; use one of minimize_latency, at_least_as_fresh, at_exact_snapshot, fully_consistent")
	}
	switch r := c.GetRequirement().(type) {
	case nil:
		return engine.Consistency{Mode: unset}, nil
	case *pb.Consistency_MinimizeLatency:
		if !r.MinimizeLatency {
			return engine.Consistency{}, invalidf("consistency.minimize_latency must be true when set")
		}
		return engine.Consistency{Mode: engine.MinimizeLatency}, nil
	case *pb.Consistency_FullyConsistent:
		if !r.FullyConsistent {
			return engine.Consistency{}, invalidf("consistency.fully_consistent must be true when set")
		}
		return engine.Consistency{Mode: engine.FullyConsistent}, nil
	case *pb.Consistency_AtLeastAsFresh:
		rev, err := s.decodeToken("consistency.at_least_as_fresh", tenant, r.AtLeastAsFresh)
		if err != nil {
			return engine.Consistency{}, err
		}
		return engine.Consistency{Mode: engine.AtLeastAsFresh, Revision: rev}, nil
	case *pb.Consistency_AtExactSnapshot:
		rev, err := s.decodeToken("consistency.at_exact_snapshot", tenant, r.AtExactSnapshot)
		if err != nil {
			return engine.Consistency{}, err
		}
		return engine.Consistency{Mode: engine.AtExactSnapshot, Revision: rev}, nil
	}
	return engine.Consistency{}, invalidf("consistency: unknown requirement %T", c.GetRequirement())
}

// readRevision resolves a request's consistency to the revision to read at; unset is
// the RPC's default mode (see consistency).
func (s *Server) readRevision(ctx context.Context, tenant string, c *pb.Consistency, unset engine.ConsistencyMode) (datastore.Revision, error) {
	cons, err := s.consistency(tenant, c, unset)
	if err != nil {
		return 0, err
	}
	rev, err := s.engine.ResolveRevision(ctx, tenant, cons)
	if err != nil {
		return 0, toStatus(err)
	}
	return rev, nil
}

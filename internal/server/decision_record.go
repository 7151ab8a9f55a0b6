package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// recordCheck hands a check's decision to the decision log, after the answer is
// computed and without waiting. The granting path is recorded when the check
// computed an explanation (explain was asked): capturing it for every check would
// make each one build the evaluation tree, so the log costs a Check only a filter
// test and a queue send.
func (s *Server) recordCheck(ctx context.Context, op, tenant string, rev datastore.Revision, resource tuple.ObjectRef, permission string, subject tuple.SubjectRef, res engine.CheckResult) {
	l := s.decisions
	if l == nil {
		return
	}
	result := res.Permissionship.String()
	if !l.Wants(tenant, resource.Type, permission, result) {
		return
	}
	d := datastore.Decision{
		Principal: principalFrom(ctx).Name, Tenant: tenant, Operation: op,
		Resource: resource, Permission: permission, Subject: subject, Result: result, Revision: rev,
	}
	if res.Permissionship == engine.HasPermission && res.Explanation != nil {
		d.Path = grantingPath(res.Explanation, nil)
	}
	l.Record(d)
}

// recordLookup hands a lookup's decision to the decision log: "allowed" with the
// number of results when it found any, else "denied".
func (s *Server) recordLookup(ctx context.Context, op, tenant string, rev datastore.Revision, resource tuple.ObjectRef, permission string, subject tuple.SubjectRef, found int) {
	l := s.decisions
	if l == nil {
		return
	}
	result := engine.NoPermission.String()
	if found > 0 {
		result = engine.HasPermission.String()
	}
	if !l.Wants(tenant, resource.Type, permission, result) {
		return
	}
	l.Record(datastore.Decision{
		Principal: principalFrom(ctx).Name, Tenant: tenant, Operation: op,
		Resource: resource, Permission: permission, Subject: subject, Result: result, Results: found, Revision: rev,
	})
}

// grantingPath collects the relationships of the allowed branches of an explanation,
// in the order the tree visits them.
func grantingPath(n *engine.ExplainNode, out []string) []string {
	if n == nil || n.Result != engine.HasPermission {
		return out
	}
	if n.Relationship != nil {
		out = append(out, n.Relationship.String())
	}
	for _, c := range n.Children {
		out = grantingPath(c, out)
	}
	return out
}

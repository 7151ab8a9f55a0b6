package console

import (
	"context"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// role is a relation of an organisation that delegates may be allowed to write.
type role struct {
	Relation string
	// Rule is the grant rule as written; MaxLifetime its bound on delegated grants.
	Rule        string
	MaxLifetime time.Duration
}

// Hint is the role's constraint as shown next to it.
func (r role) Hint() string {
	if r.MaxLifetime > 0 {
		return "must expire within " + formatLifetime(r.MaxLifetime)
	}
	return ""
}

// formatLifetime prints a lifetime in days when it is whole days, as rules write it.
func formatLifetime(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// roles are the relations of the organisation type that have a grant rule, in
// schema order: what the console manages.
func (h *Handler) roles(sch *schema.Schema) []role {
	def := sch.Definition(h.cfg.OrganizationType)
	if def == nil {
		return nil
	}
	var out []role
	for _, n := range def.Order {
		if r := def.Relations[n]; r != nil && r.Kind == schema.KindRelation && r.Grant != nil {
			out = append(out, role{Relation: n, Rule: r.Grant.Text, MaxLifetime: r.Grant.MaxLifetime})
		}
	}
	return out
}

// grantable narrows roles to those the actor may write on org: for an operator every
// role, for a person those whose grant rule they satisfy there. The write path
// decides again on every write (at the write's own snapshot, with the checks a form
// cannot make); this only keeps out of the form what would certainly be refused.
func (h *Handler) grantable(ctx context.Context, a actor, sch *schema.Schema, org tuple.ObjectRef, all []role) ([]role, error) {
	if a.subject == nil {
		return all, nil
	}
	var out []role
	for _, r := range all {
		rule := sch.GrantRule(org.Type, r.Relation)
		ok, err := h.holds(ctx, a, rule.Expr, org, 0)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// maxExprDepth bounds the walk of a rule expression (schemas nest a few levels).
const maxExprDepth = 32

// holds evaluates a grant rule's expression on resource for the actor's subject
// through the API: each relation or permission it names is a Check, each arrow a
// read of its tupleset followed by a Check on every target.
func (h *Handler) holds(ctx context.Context, a actor, e schema.Expr, resource tuple.ObjectRef, depth int) (bool, error) {
	if depth > maxExprDepth {
		return false, fmt.Errorf("a grant rule's expression nests deeper than %d", maxExprDepth)
	}
	switch e := e.(type) {
	case *schema.Computed:
		return h.api.check(ctx, a, resource, e.Relation, *a.subject)
	case *schema.Union:
		for _, c := range e.Children {
			if ok, err := h.holds(ctx, a, c, resource, depth+1); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case *schema.Intersection:
		for _, c := range e.Children {
			if ok, err := h.holds(ctx, a, c, resource, depth+1); err != nil || !ok {
				return false, err
			}
		}
		return len(e.Children) > 0, nil
	case *schema.Exclusion:
		ok, err := h.holds(ctx, a, e.Base, resource, depth+1)
		if err != nil || !ok {
			return false, err
		}
		sub, err := h.holds(ctx, a, e.Subtract, resource, depth+1)
		return !sub, err
	case *schema.Arrow:
		targets, err := h.api.read(ctx, a, &pb.RelationshipFilter{
			ResourceType: resource.Type, ResourceIds: []string{resource.ID}, Relation: e.Tupleset,
		}, maxArrowReads)
		if err != nil {
			return false, err
		}
		any, all := false, len(targets) > 0
		for _, t := range targets {
			obj := tuple.ObjectRef{Type: t.GetSubject().GetType(), ID: t.GetSubject().GetId()}
			ok, err := h.api.check(ctx, a, obj, e.Computed, *a.subject)
			if err != nil {
				return false, err
			}
			any, all = any || ok, all && ok
		}
		if e.Mode == schema.ArrowAll {
			return all, nil
		}
		return any, nil
	}
	return false, nil
}

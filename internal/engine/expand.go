package engine

import (
	"context"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Expand returns the userset tree of a permission (or relation) on a resource at a
// revision: permissions expand into their operators, computed relations and arrows
// (one child per target of the arrow's relation); relations are leaves listing their
// direct subjects — objects, wildcards and subject sets, with caveat and expiry —
// without expanding the subject sets further. A branch that comes back to a node on
// its own path is shown as an empty leaf, as it adds nothing; but one that comes back
// through the subtracted side of an exclusion, where an empty leaf would claim that
// nothing is subtracted, is a leaf whose one subject is the node it came back to (a
// subject set, like any Expand does not expand), so the tree shows the paradox
// instead of granting it. A tree deeper than MaxDepth fails with a *DepthError.
func (e *Engine) Expand(ctx context.Context, req ExpandRequest) (*ExpandNode, error) {
	tenant := req.Tenant
	cs, err := e.schemaAt(ctx, tenant, req.Revision)
	if err != nil {
		return nil, err
	}
	def, rel, err := cs.target(req.Resource.Type, req.Permission)
	if err != nil {
		return nil, err
	}
	if err := cs.validateResource(req.Resource); err != nil {
		return nil, err
	}
	e.metrics.requests.Add(1)
	x := &expander{e: e, tenant: tenant, rev: req.Revision, cs: cs, reader: e.ds.SnapshotReader(tenant, req.Revision), maxDepth: e.cfg.MaxDepth}
	return x.node(ctx, def, rel, req.Resource.ID, nil, 0, 1)
}

type expander struct {
	e        *Engine
	tenant   string
	rev      datastore.Revision
	cs       *compiledSchema
	reader   datastore.Reader
	maxDepth int
}

// expandPath is one node on an expansion's path, with how many subtracted sides lie
// between the root and it.
type expandPath struct {
	parent       *expandPath
	typ, id      string
	rel          string
	subtractions int
}

// find returns the node typ:id#rel on the path, or nil.
func (p *expandPath) find(typ, id, rel string) *expandPath {
	for ; p != nil; p = p.parent {
		if p.id == id && p.rel == rel && p.typ == typ {
			return p
		}
	}
	return nil
}

// node expands rel on def:id; subtractions counts the subtracted sides entered since
// the root.
func (x *expander) node(ctx context.Context, def *schema.Definition, rel *schema.Relation, id string, path *expandPath, subtractions, depth int) (*ExpandNode, error) {
	obj := tuple.ObjectRef{Type: def.Name, ID: id}
	if back := path.find(def.Name, id, rel.Name); back != nil {
		leaf := &ExpandNode{Resource: obj, Relation: rel.Name, Op: ExpandLeaf}
		if subtractions > back.subtractions {
			leaf.Subjects = []ExpandSubject{{Subject: tuple.SubjectRef{Type: def.Name, ID: id, Relation: rel.Name}}}
		}
		return leaf, nil
	}
	if depth > x.maxDepth {
		return nil, &DepthError{Limit: x.maxDepth, At: describe(def.Name, id, rel.Name)}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &expandPath{parent: path, typ: def.Name, id: id, rel: rel.Name, subtractions: subtractions}
	if rel.Kind == schema.KindRelation {
		leaf := &ExpandNode{Resource: obj, Relation: rel.Name, Op: ExpandLeaf}
		f := datastore.RelationshipFilter{ResourceType: def.Name, ResourceIDs: []string{id}, Relation: rel.Name}
		for r, err := range x.reader.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
			if err != nil {
				return nil, err
			}
			held, conditional, err := x.held(ctx, r, depth)
			if err != nil {
				return nil, err
			}
			if held {
				leaf.Subjects = append(leaf.Subjects, ExpandSubject{Subject: r.Subject, Caveat: r.Caveat, Expiration: r.Expiration, Conditional: conditional})
			}
		}
		return leaf, nil
	}
	return x.expr(ctx, def, rel, id, rel.Expr, p, subtractions, depth)
}

func (x *expander) expr(ctx context.Context, def *schema.Definition, rel *schema.Relation, id string, e schema.Expr, p *expandPath, subtractions, depth int) (*ExpandNode, error) {
	obj := tuple.ObjectRef{Type: def.Name, ID: id}
	op := func(kind ExpandOp, children []schema.Expr) (*ExpandNode, error) {
		n := &ExpandNode{Resource: obj, Relation: rel.Name, Op: kind}
		for i, c := range children {
			below := subtractions
			if kind == ExpandExclusion && i > 0 {
				below++
			}
			child, err := x.expr(ctx, def, rel, id, c, p, below, depth)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, child)
		}
		return n, nil
	}
	switch e := e.(type) {
	case *schema.Computed:
		target := def.Relations[e.Relation]
		if target == nil {
			return &ExpandNode{Resource: obj, Relation: e.Relation, Op: ExpandLeaf}, nil
		}
		return x.node(ctx, def, target, id, p, subtractions, depth+1)
	case *schema.Union:
		return op(ExpandUnion, e.Children)
	case *schema.Intersection:
		return op(ExpandIntersection, e.Children)
	case *schema.Exclusion:
		return op(ExpandExclusion, []schema.Expr{e.Base, e.Subtract})
	case *schema.Nil:
		return &ExpandNode{Resource: obj, Relation: rel.Name, Op: ExpandUnion}, nil
	case *schema.Arrow:
		kind := ExpandUnion
		if e.Mode == schema.ArrowAll {
			kind = ExpandIntersection
		}
		n := &ExpandNode{Resource: obj, Relation: rel.Name, Op: kind, Arrow: exprString(e, false)}
		f := datastore.RelationshipFilter{ResourceType: def.Name, ResourceIDs: []string{id}, Relation: e.Tupleset}
		var via []tuple.Relationship
		for r, err := range x.reader.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
			if err != nil {
				return nil, err
			}
			via = append(via, r)
		}
		for _, r := range via {
			td := x.cs.s.Definitions[r.Subject.Type]
			if td == nil || td.Relations[e.Computed] == nil || r.Subject.IsWildcard() {
				continue
			}
			child, err := x.node(ctx, td, td.Relations[e.Computed], r.Subject.ID, p, subtractions, depth+1)
			if err != nil {
				return nil, err
			}
			child.Via = &r
			n.Children = append(n.Children, child)
		}
		return n, nil
	}
	return &ExpandNode{Resource: obj, Relation: rel.Name, Op: ExpandLeaf}, nil
}

// held reports whether a stored relationship counts as far as its grant rule's
// dependencies go: a delegated grant whose conditions (grantee still a member, grantor
// still able to grant) no longer hold at the revision has ended, as Check sees it,
// and is left out of the tree. A condition that holds only under caveat context keeps
// the grant in, marked conditional. The relationship's own caveat is the subject's,
// as for any other.
func (x *expander) held(ctx context.Context, r tuple.Relationship, depth int) (held, conditional bool, err error) {
	if r.Granted == nil {
		return true, false, nil
	}
	rule := x.cs.s.GrantRule(r.Resource.Type, r.Relation)
	if rule == nil || len(rule.Dependencies) == 0 {
		return true, false, nil
	}
	c, err := x.e.newChecker(ctx, query{tenant: x.tenant, rev: x.rev, subject: r.Subject, wildcardSubject: true})
	if err != nil {
		return false, false, err
	}
	res := yesResult()
	for _, dep := range rule.Dependencies {
		res = and(res, c.dependencyResult(ctx, r, rule, dep, depth+1))
		if res.err != nil {
			return false, false, res.err
		}
		if res.no() {
			return false, false, nil
		}
	}
	return true, res.perm == Conditional, nil
}

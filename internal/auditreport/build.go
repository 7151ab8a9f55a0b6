package auditreport

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Bounds bound one report. A section that reaches its bound is cut there and named
// in Report.Truncated, so a report never grows without limit and never hides that it
// is incomplete. A zero field means its DefaultBounds value.
type Bounds struct {
	Objects   int // objects inside the subtree
	Grants    int // relationships in force on them
	Holders   int // subjects whose access is reviewed
	Access    int // access entries
	Changes   int // transactions of the period
	Decisions int // decisions of the period
}

// DefaultBounds are the bounds of a report that sets none.
var DefaultBounds = Bounds{Objects: 5000, Grants: 20000, Holders: 1000, Access: 20000, Changes: 5000, Decisions: 20000}

func (b Bounds) withDefaults() Bounds {
	d := DefaultBounds
	for _, f := range []struct{ v, def *int }{{&b.Objects, &d.Objects}, {&b.Grants, &d.Grants}, {&b.Holders, &d.Holders}, {&b.Access, &d.Access}, {&b.Changes, &d.Changes}, {&b.Decisions, &d.Decisions}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return b
}

// maxHolderDepth bounds the walk from a grant's subject (a group, a partner
// organisation) to the people behind it.
const maxHolderDepth = 8

// Section names, as Report.Truncated lists them.
const (
	SectionObjects   = "objects"
	SectionGrants    = "grants"
	SectionAccess    = "access"
	SectionChanges   = "changes"
	SectionDecisions = "decisions"
)

// SchemaReader reads a tenant's compiled schema; *engine.Engine implements it.
type SchemaReader interface {
	Schema(ctx context.Context, tenant string, rev datastore.Revision) (*schema.Schema, error)
}

// AccessReviewer lists what a subject reaches inside a subtree;
// *governance.Reviewer implements it.
type AccessReviewer interface {
	Access(ctx context.Context, req governance.AccessRequest) ([]governance.Access, error)
}

// Sources are what a report is computed from.
type Sources struct {
	Store    datastore.Datastore
	Engine   SchemaReader
	Reviewer AccessReviewer
	// Decisions is the decision log's store; nil when the log is off.
	Decisions datastore.DecisionStore
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Request says which report to compute.
type Request struct {
	Tenant       string
	Revision     datastore.Revision
	Organization tuple.ObjectRef
	// Since and Until bound the period of the changes and decisions: Since <= t <
	// Until. A zero Since means from the start, a zero Until means now.
	Since, Until time.Time
	// Permissions narrow the access section (empty: every permission).
	Permissions []string
	// Bounds bound the sections (zero: DefaultBounds).
	Bounds Bounds
}

// Report is the evidence about one organisation at one revision.
type Report struct {
	Tenant       string
	Organization tuple.ObjectRef
	GeneratedAt  time.Time
	Revision     datastore.Revision
	Since, Until time.Time
	// Objects are the objects inside the subtree, the organisation first, then in the
	// order a breadth-first walk down the hierarchy finds them.
	Objects []tuple.ObjectRef
	// Grants are the relationships in force on the objects, object by object.
	Grants []Grant
	// Access is who holds which permission inside the subtree, subject by subject.
	Access []Access
	// Changes is the period's audit trail that touched the subtree, newest first.
	Changes []*datastore.Transaction
	// Decisions are the period's logged decisions on the subtree, newest first.
	Decisions   []datastore.Decision
	DecisionLog bool
	// Truncated names the sections cut at their bound.
	Truncated []string
}

// Grant is a relationship and the audit record of the write that made it.
type Grant struct {
	Relationship tuple.Relationship
	// Provenance is nil when the write is older than the audit trail's retention.
	Provenance *governance.Provenance
}

// Access is one permission a subject holds on an object inside the subtree.
type Access struct {
	Subject        tuple.SubjectRef
	Resource       tuple.ObjectRef
	Permission     string
	Permissionship engine.Permissionship
	// Path is the relationships that grant it, from the resource down to the subject.
	Path []Grant
}

// builder holds one report's working state.
type builder struct {
	src     Sources
	req     Request
	sch     *schema.Schema
	snap    datastore.Reader
	out     *Report
	inside  map[tuple.ObjectRef]bool
	holders map[tuple.SubjectRef]bool
	// prov caches provenance by relationship; resolved marks objects whose audit
	// trail was already searched.
	prov     map[tuple.Key]*governance.Provenance
	resolved map[tuple.ObjectRef]bool
}

// Build computes the report. The organisation's type must be defined in the
// tenant's schema, and every permission named must exist on some definition; either
// mistake fails with datastore.ErrInvalidArgument naming it.
func Build(ctx context.Context, src Sources, req Request) (*Report, error) {
	if src.Now == nil {
		src.Now = time.Now
	}
	now := src.Now()
	if req.Until.IsZero() {
		req.Until = now
	}
	req.Bounds = req.Bounds.withDefaults()
	sch, err := src.Engine.Schema(ctx, req.Tenant, req.Revision)
	if err != nil {
		return nil, err
	}
	if sch.Definition(req.Organization.Type) == nil {
		return nil, fmt.Errorf("organization type %q is not defined in the schema: %w", req.Organization.Type, datastore.ErrInvalidArgument)
	}
	for _, p := range req.Permissions {
		if !definesPermission(sch, p) {
			return nil, fmt.Errorf("permission %q is defined on no definition of the schema: %w", p, datastore.ErrInvalidArgument)
		}
	}
	b := &builder{
		src: src, req: req, sch: sch, snap: src.Store.SnapshotReader(req.Tenant, req.Revision),
		out: &Report{
			Tenant: req.Tenant, Organization: req.Organization, GeneratedAt: now, Revision: req.Revision,
			Since: req.Since, Until: req.Until, DecisionLog: src.Decisions != nil,
		},
		inside: map[tuple.ObjectRef]bool{}, holders: map[tuple.SubjectRef]bool{},
		prov: map[tuple.Key]*governance.Provenance{}, resolved: map[tuple.ObjectRef]bool{},
	}
	steps := []func(context.Context) error{b.walkObjects, b.collectGrants, b.collectAccess, b.collectChanges, b.collectDecisions}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return b.out, nil
}

func definesPermission(sch *schema.Schema, name string) bool {
	for _, d := range sch.Definitions {
		if r := d.Relations[name]; r != nil && r.Kind == schema.KindPermission && !r.Synthetic {
			return true
		}
	}
	return false
}

func (b *builder) truncate(section string) {
	if !slices.Contains(b.out.Truncated, section) {
		b.out.Truncated = append(b.out.Truncated, section)
	}
}

// walkObjects finds the subtree top down: an object is inside when one of its
// structural relations points at an object inside (engine.Subtree decides the same
// bottom up).
func (b *builder) walkObjects(ctx context.Context) error {
	structural := b.sch.StructuralRelations()
	org := b.req.Organization
	b.inside[org] = true
	b.out.Objects = append(b.out.Objects, org)
	for i := 0; i < len(b.out.Objects); i++ {
		o := b.out.Objects[i]
		sf := datastore.SubjectFilter{Type: o.Type, IDs: []string{o.ID}, Relations: []string{""}}
		for r, err := range b.snap.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{}) {
			if err != nil {
				return fmt.Errorf("walking the subtree of %s: %w", org, err)
			}
			if !slices.Contains(structural[r.Resource.Type], r.Relation) || b.inside[r.Resource] {
				continue
			}
			if len(b.out.Objects) >= b.req.Bounds.Objects {
				b.truncate(SectionObjects)
				return nil
			}
			b.inside[r.Resource] = true
			b.out.Objects = append(b.out.Objects, r.Resource)
		}
	}
	return nil
}

// collectGrants lists the relationships on every object inside, with provenance.
func (b *builder) collectGrants(ctx context.Context) error {
	for _, o := range b.out.Objects {
		f := datastore.RelationshipFilter{ResourceType: o.Type, ResourceIDs: []string{o.ID}}
		for r, err := range b.snap.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
			if err != nil {
				return err
			}
			if len(b.out.Grants) >= b.req.Bounds.Grants {
				b.truncate(SectionGrants)
				return nil
			}
			g, err := b.grant(ctx, r)
			if err != nil {
				return err
			}
			b.out.Grants = append(b.out.Grants, g)
		}
	}
	return nil
}

// grant pairs a relationship with its provenance, searching the audit trail of its
// resource once for all of that resource's relationships the report needs.
func (b *builder) grant(ctx context.Context, r tuple.Relationship) (Grant, error) {
	key := r.Key()
	if p, ok := b.prov[key]; ok {
		return Grant{Relationship: r, Provenance: p}, nil
	}
	if !b.resolved[r.Resource] {
		b.resolved[r.Resource] = true
		res := r.Resource
		f := datastore.TransactionFilter{Resource: &res, Before: b.req.Revision + 1}
		for tx, err := range b.src.Store.ReadTransactions(ctx, b.req.Tenant, f) {
			if err != nil {
				return Grant{}, err
			}
			for _, c := range tx.Changes {
				k := c.Relationship.Key()
				if _, done := b.prov[k]; done || c.Relationship.Resource != res {
					continue
				}
				if p, ok := governance.ProvenanceIn(tx, k); ok {
					b.prov[k] = &p
				} else {
					b.prov[k] = nil // deleted here: older writes no longer made the current one
				}
			}
		}
	}
	return Grant{Relationship: r, Provenance: b.prov[key]}, nil
}

// collectAccess reviews, for every person or service behind a grant inside the
// subtree, what they can reach there.
func (b *builder) collectAccess(ctx context.Context) error {
	subjects, err := b.findHolders(ctx)
	if err != nil {
		return err
	}
	for _, s := range subjects {
		left := b.req.Bounds.Access - len(b.out.Access)
		access, err := b.src.Reviewer.Access(ctx, governance.AccessRequest{
			Tenant: b.req.Tenant, Revision: b.req.Revision, Subject: s, Organization: &b.req.Organization,
			Permissions: b.req.Permissions, Limit: left + 1,
		})
		if err != nil {
			return err
		}
		if len(access) > left {
			access = access[:left]
			b.truncate(SectionAccess)
		}
		for _, a := range access {
			e := Access{Subject: s, Resource: a.Resource, Permission: a.Permission, Permissionship: a.Permissionship}
			for _, r := range a.Path {
				g, err := b.grant(ctx, r)
				if err != nil {
					return err
				}
				e.Path = append(e.Path, g)
			}
			b.out.Access = append(b.out.Access, e)
		}
		if len(b.out.Access) >= b.req.Bounds.Access {
			return nil
		}
	}
	return nil
}

// findHolders returns the subjects of principal types (definitions without
// relations, such as user) that the subtree's grants lead to: directly, or through
// the groups, partner organisations and brands those grants name. Sorted.
func (b *builder) findHolders(ctx context.Context) ([]tuple.SubjectRef, error) {
	var out []tuple.SubjectRef
	seen := map[tuple.SubjectRef]bool{}
	var frontier []tuple.SubjectRef
	for _, g := range b.out.Grants {
		frontier = append(frontier, g.Relationship.Subject)
	}
	for depth := 0; len(frontier) > 0 && depth < maxHolderDepth; depth++ {
		var next []tuple.SubjectRef
		for _, s := range frontier {
			if seen[s] || s.IsWildcard() || b.inside[s.Object()] && s.Relation == "" {
				continue
			}
			seen[s] = true
			if def := b.sch.Definition(s.Type); def != nil && len(def.Relations) == 0 {
				if len(out) >= b.req.Bounds.Holders {
					b.truncate(SectionAccess)
					break
				}
				out = append(out, s)
				b.holders[s] = true
				continue
			}
			f := datastore.RelationshipFilter{ResourceType: s.Type, ResourceIDs: []string{s.ID}, Relation: s.Relation}
			for r, err := range b.snap.QueryRelationships(ctx, f, datastore.QueryOptions{Limit: b.req.Bounds.Grants}) {
				if err != nil {
					return nil, err
				}
				next = append(next, r.Subject)
			}
		}
		frontier = next
	}
	slices.SortFunc(out, func(a, c tuple.SubjectRef) int {
		if a.String() < c.String() {
			return -1
		}
		if a.String() > c.String() {
			return 1
		}
		return 0
	})
	return out, nil
}

// collectChanges keeps the period's transactions that acted through an organisation
// inside the subtree or changed (or attempted to change) a relationship there.
func (b *builder) collectChanges(ctx context.Context) error {
	f := datastore.TransactionFilter{Since: b.req.Since, Until: b.req.Until, Before: b.req.Revision + 1}
	for tx, err := range b.src.Store.ReadTransactions(ctx, b.req.Tenant, f) {
		if err != nil {
			return err
		}
		if !b.touches(tx) {
			continue
		}
		if len(b.out.Changes) >= b.req.Bounds.Changes {
			b.truncate(SectionChanges)
			return nil
		}
		b.out.Changes = append(b.out.Changes, tx)
	}
	return nil
}

func (b *builder) touches(tx *datastore.Transaction) bool {
	for _, o := range tx.Metadata.Organizations {
		if b.inside[o] {
			return true
		}
	}
	rel := func(r tuple.Relationship) bool {
		return b.inside[r.Resource] || (r.Subject.Relation == "" && b.inside[r.Subject.Object()])
	}
	for _, c := range tx.Changes {
		if rel(c.Relationship) {
			return true
		}
	}
	if tx.Metadata.Denied != nil {
		for _, u := range tx.Metadata.Denied.Updates {
			if rel(u.Relationship) {
				return true
			}
		}
	}
	return false
}

// collectDecisions keeps the period's decisions on objects inside the subtree, and
// the lookups of the subtree's holders.
func (b *builder) collectDecisions(ctx context.Context) error {
	if b.src.Decisions == nil {
		return nil
	}
	f := datastore.DecisionFilter{Tenants: []string{b.req.Tenant}, Since: b.req.Since, Until: b.req.Until}
	for d, err := range b.src.Decisions.ReadDecisions(ctx, f) {
		if err != nil {
			return err
		}
		if !b.inside[d.Resource] && (d.Resource.ID != "" || !b.holders[d.Subject]) {
			continue
		}
		if len(b.out.Decisions) >= b.req.Bounds.Decisions {
			b.truncate(SectionDecisions)
			return nil
		}
		b.out.Decisions = append(b.out.Decisions, d)
	}
	return nil
}

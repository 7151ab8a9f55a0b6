package governance

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Reviewer answers review questions for one store and engine.
type Reviewer struct {
	ds  datastore.Datastore
	eng *engine.Engine
	now func() time.Time
}

// New returns a Reviewer. now is the clock used for expiry (nil means time.Now).
func New(ds datastore.Datastore, eng *engine.Engine, now func() time.Time) *Reviewer {
	if now == nil {
		now = time.Now
	}
	return &Reviewer{ds: ds, eng: eng, now: now}
}

// Grant is a relationship an actor wrote that is still in force.
type Grant struct {
	Relationship tuple.Relationship
	// Revision and Time say when the actor wrote it.
	Revision datastore.Revision
	Time     time.Time
	// Rule and Via say which grant rule allowed it and through which organisation.
	Rule   string
	Via    *tuple.ObjectRef
	Reason string
	// Principal is the API key the actor's write came through.
	Principal string
}

// GrantsInForce lists the relationships actor created or touched through delegated
// writes that are still stored, unchanged and unexpired at revision rev, newest first,
// at most limit (0 means all).
func (r *Reviewer) GrantsInForce(ctx context.Context, tenant string, rev datastore.Revision, actor tuple.SubjectRef, limit int) ([]Grant, error) {
	snap := r.ds.SnapshotReader(tenant, rev)
	now := r.now()
	seen := map[tuple.Key]bool{}
	var out []Grant
	for tx, err := range r.ds.ReadTransactions(ctx, tenant, datastore.TransactionFilter{Actor: &actor, Before: rev + 1}) {
		if err != nil {
			return nil, err
		}
		for _, c := range tx.Changes {
			key := c.Relationship.Key()
			if seen[key] {
				continue // a newer transaction of this actor decided it
			}
			seen[key] = true
			if c.Kind == datastore.ChangeDeleted || c.Relationship.ExpiredAt(now) {
				continue
			}
			current, err := lookupKey(ctx, snap, key)
			if err != nil {
				return nil, err
			}
			if current == nil || !current.Equal(c.Relationship) {
				continue // deleted or rewritten since
			}
			g := Grant{Relationship: c.Relationship, Revision: tx.Revision, Time: tx.Time, Reason: tx.Metadata.Reason, Principal: tx.Metadata.Principal}
			for _, rec := range tx.Metadata.Grants {
				if rec.Relationship == key {
					g.Rule, g.Via = rec.Rule, rec.Via
				}
			}
			out = append(out, g)
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
	}
	return out, nil
}

func lookupKey(ctx context.Context, snap datastore.Reader, k tuple.Key) (*tuple.Relationship, error) {
	f := datastore.RelationshipFilter{
		ResourceType: k.ResourceType, ResourceIDs: []string{k.ResourceID}, Relation: k.Relation,
		Subject: &datastore.SubjectFilter{Type: k.SubjectType, IDs: []string{k.SubjectID}, Relations: []string{k.SubjectRel}},
	}
	for rel, err := range snap.QueryRelationships(ctx, f, datastore.QueryOptions{Limit: 1}) {
		if err != nil {
			return nil, err
		}
		return &rel, nil
	}
	return nil, nil
}

// Access is one thing a subject can reach, with the evaluation that shows how.
type Access struct {
	Resource       tuple.ObjectRef
	Permission     string
	Permissionship engine.Permissionship
	// Path is the granting branch of the check's explanation: the relationships
	// followed from the resource down to the subject.
	Path []tuple.Relationship
}

// AccessRequest bounds an access review.
type AccessRequest struct {
	Tenant   string
	Revision datastore.Revision
	Subject  tuple.SubjectRef
	// Organization limits the review to objects inside its subtree (see
	// engine.Subtree for how the subtree is defined); nil reviews everything.
	Organization *tuple.ObjectRef
	// ResourceTypes and Permissions narrow the review; empty means every definition
	// and every non-synthetic permission.
	ResourceTypes []string
	Permissions   []string
	// Limit bounds the number of results; 0 means DefaultAccessLimit.
	Limit int
}

// DefaultAccessLimit bounds an access review that gives no limit.
const DefaultAccessLimit = 1000

// Access lists what a subject can reach, through which path. For each definition and
// permission it looks up the resources the subject has the permission on, keeps those
// inside the organisation's subtree, and explains each to extract the path.
func (r *Reviewer) Access(ctx context.Context, req AccessRequest) ([]Access, error) {
	sch, err := r.eng.Schema(ctx, req.Tenant, req.Revision)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultAccessLimit
	}
	types := req.ResourceTypes
	if len(types) == 0 {
		types = sch.DefinitionNames()
	}
	if req.Organization != nil && sch.Definition(req.Organization.Type) == nil {
		return nil, fmt.Errorf("organization type %q is not defined in the schema: %w", req.Organization.Type, datastore.ErrInvalidArgument)
	}
	inside := engine.NewSubtree(r.ds.SnapshotReader(req.Tenant, req.Revision), sch, req.Organization)
	var out []Access
	for _, typ := range types {
		def := sch.Definition(typ)
		if def == nil {
			return nil, fmt.Errorf("resource type %q is not defined in the schema: %w", typ, datastore.ErrInvalidArgument)
		}
		for _, perm := range def.Order {
			rel := def.Relations[perm]
			if rel.Kind != schema.KindPermission || rel.Synthetic || (len(req.Permissions) > 0 && !slices.Contains(req.Permissions, perm)) {
				continue
			}
			lr := engine.LookupResourcesRequest{Tenant: req.Tenant, Revision: req.Revision, ResourceType: typ, Permission: perm, Subject: req.Subject}
			for res, err := range r.eng.LookupResources(ctx, lr) {
				if err != nil {
					return nil, err
				}
				obj := tuple.ObjectRef{Type: typ, ID: res.ResourceID}
				ok, err := inside.Contains(ctx, obj)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				a := Access{Resource: obj, Permission: perm, Permissionship: res.Permissionship}
				ex, err := r.eng.Check(ctx, engine.CheckRequest{Tenant: req.Tenant, Revision: req.Revision, Resource: obj, Permission: perm, Subject: req.Subject, Explain: true})
				if err != nil {
					return nil, err
				}
				for _, step := range ex.Explanation.GrantingPath() {
					if step.Kind == engine.NodeRelationship {
						a.Path = append(a.Path, *step.Relationship)
					}
				}
				out = append(out, a)
				if len(out) >= limit {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

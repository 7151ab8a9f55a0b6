package governance

import (
	"context"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// AddProvenance fills in, on every relationship node of an explanation, who wrote the
// relationship, when, on whose behalf and why — from the audit trail, as of revision
// rev. Relationships written before the audit trail's retention, or contextual ones,
// are left without provenance.
func (r *Reviewer) AddProvenance(ctx context.Context, tenant string, rev datastore.Revision, root *engine.ExplainNode) error {
	found := map[tuple.Key]*engine.Provenance{}
	var walk func(n *engine.ExplainNode) error
	walk = func(n *engine.ExplainNode) error {
		if n == nil {
			return nil
		}
		if n.Kind == engine.NodeRelationship && n.Relationship != nil {
			key := n.Relationship.Key()
			p, ok := found[key]
			if !ok {
				var err error
				if p, err = r.provenance(ctx, tenant, rev, *n.Relationship); err != nil {
					return err
				}
				found[key] = p
			}
			n.Provenance = p
		}
		for _, c := range n.Children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}

// provenance finds the newest transaction at or before rev that created or rewrote
// the relationship.
func (r *Reviewer) provenance(ctx context.Context, tenant string, rev datastore.Revision, rel tuple.Relationship) (*engine.Provenance, error) {
	key := rel.Key()
	res := rel.Resource
	f := datastore.TransactionFilter{Resource: &res, Before: rev + 1}
	for tx, err := range r.ds.ReadTransactions(ctx, tenant, f) {
		if err != nil {
			return nil, err
		}
		for _, c := range tx.Changes {
			if c.Kind != datastore.ChangeDeleted && c.Relationship.Key() == key {
				p := &engine.Provenance{
					Revision: tx.Revision, Time: tx.Time, Principal: tx.Metadata.Principal,
					Actor: tx.Metadata.Actor, Reason: tx.Metadata.Reason,
				}
				for _, g := range tx.Metadata.Grants {
					if g.Relationship == key {
						p.Rule, p.Via = g.Rule, g.Via
					}
				}
				return p, nil
			}
		}
	}
	return nil, nil
}

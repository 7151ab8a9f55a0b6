package governance

import (
	"context"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Provenance is the audit information of the transaction that wrote a relationship.
type Provenance struct {
	Revision  datastore.Revision
	Time      time.Time
	Principal string
	Actor     *tuple.SubjectRef
	Reason    string
	// Rule and Via say, for a delegated write, which grant rule allowed it and the
	// organisation through which the actor held the rule's permission.
	Rule string
	Via  *tuple.ObjectRef
	// AccessRequest is the id of the access request whose approval wrote the
	// relationship, in the same transaction; "" for any other write.
	AccessRequest string
	// Operation is the API operation of the transaction ("write", "import", ...).
	Operation string
}

// Provenance finds, for every relationship an explanation followed, who wrote it,
// when, on whose behalf and why — from the audit trail, as of revision rev. The
// explanation stays the engine's: the answer is a table beside it, keyed by
// relationship. Relationships written before the audit trail's retention, and
// contextual ones, have no entry.
func (r *Reviewer) Provenance(ctx context.Context, tenant string, rev datastore.Revision, root *engine.ExplainNode) (map[tuple.Key]Provenance, error) {
	out := map[tuple.Key]Provenance{}
	for _, rel := range root.Relationships() {
		p, ok, err := r.provenance(ctx, tenant, rev, rel)
		if err != nil {
			return nil, err
		}
		if ok {
			out[rel.Key()] = p
		}
	}
	return out, nil
}

// provenance finds the newest transaction at or before rev that created or rewrote
// the relationship.
func (r *Reviewer) provenance(ctx context.Context, tenant string, rev datastore.Revision, rel tuple.Relationship) (Provenance, bool, error) {
	key := rel.Key()
	res := rel.Resource
	f := datastore.TransactionFilter{Resource: &res, Before: rev + 1}
	for tx, err := range r.ds.ReadTransactions(ctx, tenant, f) {
		if err != nil {
			return Provenance{}, false, err
		}
		if p, ok := ProvenanceIn(tx, key); ok {
			return p, true, nil
		}
	}
	return Provenance{}, false, nil
}

// ProvenanceIn returns the provenance tx gives the relationship key when tx created
// or rewrote it.
func ProvenanceIn(tx *datastore.Transaction, key tuple.Key) (Provenance, bool) {
	for _, c := range tx.Changes {
		if c.Kind == datastore.ChangeDeleted || c.Relationship.Key() != key {
			continue
		}
		p := Provenance{
			Revision: tx.Revision, Time: tx.Time, Principal: tx.Metadata.Principal,
			Actor: tx.Metadata.Actor, Reason: tx.Metadata.Reason, Operation: tx.Metadata.Operation,
		}
		for _, g := range tx.Metadata.Grants {
			if g.Relationship == key {
				p.Rule, p.Via = g.Rule, g.Via
			}
		}
		p.AccessRequest = approvingRequest(tx, key)
		return p, true
	}
	return Provenance{}, false
}

// approvingRequest is the id of the access request for key that tx approved, or "".
func approvingRequest(tx *datastore.Transaction, key tuple.Key) string {
	for _, c := range tx.RecordChanges {
		if c.Deleted || c.Record.Kind != requests.Kind {
			continue
		}
		r, err := requests.Decode(c.Record)
		if err == nil && r.State == requests.Approved && r.Relationship().Key() == key {
			return r.ID
		}
	}
	return ""
}

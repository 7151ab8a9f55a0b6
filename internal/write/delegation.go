package write

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// authorize checks every update of a delegated write against the schema's grant rules
// at revision rev, which must be the snapshot of the transaction that will commit the
// updates. It returns, per update, the rule that allowed it and the object through
// which the actor held the rule's permission.
func (w *Writer) authorize(ctx context.Context, tenant string, rev datastore.Revision, sch *schema.Schema, actor tuple.SubjectRef, updates []datastore.Update) ([]datastore.GrantRecord, error) {
	now := w.cfg.Now()
	records := make([]datastore.GrantRecord, 0, len(updates))
	for _, u := range updates {
		rel := u.Relationship
		update := fmt.Sprintf("%s %s", u.Op, rel.Key())
		r, ok := sch.Relation(rel.Resource.Type, rel.Relation)
		if !ok || r.Kind != schema.KindRelation {
			return nil, &PermissionDeniedError{Actor: actor, Update: update,
				Reason: fmt.Sprintf("the schema has no relation %s#%s", rel.Resource.Type, rel.Relation)}
		}
		if r.Grant == nil {
			return nil, &PermissionDeniedError{Actor: actor, Update: update,
				Reason: fmt.Sprintf("relation %s#%s has no grant rule, so only administrators may write it", rel.Resource.Type, rel.Relation)}
		}
		rule := r.Grant
		if u.Op != datastore.OpDelete && rule.MaxLifetime > 0 {
			deadline := now.Add(rule.MaxLifetime)
			if !rel.HasExpiration() || rel.Expiration.After(deadline) {
				return nil, &LifetimeError{Actor: actor, Update: update, Rule: rule.Text, Max: rule.MaxLifetime, Deadline: deadline}
			}
		}
		res, err := w.eng.Check(ctx, engine.CheckRequest{
			Tenant: tenant, Revision: rev, Resource: rel.Resource, Permission: rule.Permission,
			Subject: actor, Explain: true,
		})
		if err != nil {
			return nil, fmt.Errorf("authorising %s for %s: %w", update, actor, err)
		}
		switch res.Permissionship {
		case engine.HasPermission:
		case engine.Conditional:
			return nil, &PermissionDeniedError{Actor: actor, Update: update, Rule: rule.Text,
				Reason: fmt.Sprintf("the acting subject satisfies the rule on %s only conditionally (missing caveat context: %s)", rel.Resource, strings.Join(res.MissingContext, ", "))}
		default:
			return nil, &PermissionDeniedError{Actor: actor, Update: update, Rule: rule.Text,
				Reason: fmt.Sprintf("the acting subject does not satisfy the rule on %s", rel.Resource)}
		}
		rec := datastore.GrantRecord{Relationship: rel.Key(), Rule: rule.Text}
		if via := grantingObject(res.Explanation); via != nil {
			rec.Via = via
		} else {
			res := rel.Resource
			rec.Via = &res
		}
		records = append(records, rec)
	}
	return records, nil
}

// grantingObject finds, on the granting path of an explain tree, the object on which
// the actor (or a group it belongs to) holds a role: the resource of the first
// relationship the path follows that is not an arrow's hop to another object. For
// "manage = admin + parent->manage" checked on a child organisation, that is the parent
// organisation whose admin relationship granted.
func grantingObject(n *engine.ExplainNode) *tuple.ObjectRef {
	if n == nil || n.Result != engine.HasPermission {
		return nil
	}
	path := n.GrantingPath()
	for i, step := range path {
		if step.Kind != engine.NodeRelationship {
			continue
		}
		if i > 0 && path[i-1].Kind == engine.NodeArrow {
			continue // the arrow's hop: the role is held further down
		}
		o := step.Relationship.Resource
		return &o
	}
	return nil
}

// recordDenial keeps a refused delegated write in the audit trail, as a transaction
// that changes nothing and names what was attempted and why it was refused, and
// returns the refusal. Other errors pass through unrecorded.
func (w *Writer) recordDenial(ctx context.Context, tenant string, meta txMeta, attempted []datastore.Update, refusal error) error {
	var pd *PermissionDeniedError
	var le *LifetimeError
	if meta.Actor == nil || !(errors.As(refusal, &pd) || errors.As(refusal, &le)) {
		return refusal
	}
	m := datastore.TxMetadata(meta)
	m.Denied = &datastore.Denial{Message: refusal.Error(), Updates: attempted}
	_, err := w.ds.ReadWriteTx(ctx, tenant, m, func(context.Context, datastore.ReadWriteTx) error { return nil })
	if err != nil {
		return fmt.Errorf("%w (and recording the refusal in the audit trail failed: %v)", refusal, err)
	}
	return refusal
}

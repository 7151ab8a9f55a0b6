package write

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// authorize checks every update of a delegated write against the schema's grant rules
// at revision rev, which must be the snapshot of the transaction that will commit the
// updates. It returns, per update, the rule that allowed it and the object through
// which the actor held the rule's permission.
//
// Beyond the rule itself, a delegate may never change its own access, grant to a
// wildcard, or make a grant under a time-bounded rule that outlives its own authority:
// each would let it widen access past what it was given.
//
// Contextual relationships count as stored for the checks: a SCIM connection's new
// group is owned by its organisation in the same transaction that adds its members.
func (w *Writer) authorize(ctx context.Context, tenant string, rev datastore.Revision, sch *schema.Schema, actor tuple.SubjectRef, updates []datastore.Update, contextual ...tuple.Relationship) ([]datastore.GrantRecord, error) {
	now := w.cfg.Now()
	records := make([]datastore.GrantRecord, 0, len(updates))
	for _, u := range updates {
		rel := u.Relationship
		update := fmt.Sprintf("%s %s", u.Op, rel.Key())
		if err := refuseShape(sch, actor, u, update); err != nil {
			return nil, err
		}
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
		res, err := w.eng.Check(ctx, engine.CheckRequest{
			Tenant: tenant, Revision: rev, Resource: rel.Resource, Permission: rule.Permission,
			Subject: actor, Explain: true, Contextual: contextual,
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
		// The lifetime is checked once the actor is known to hold the rule, so an actor
		// without it is not told that an expiry would help.
		if u.Op != datastore.OpDelete && rule.MaxLifetime > 0 {
			deadline := now.Add(rule.MaxLifetime)
			if !rel.HasExpiration() || rel.Expiration.After(deadline) {
				return nil, &LifetimeError{Actor: actor, Update: update, Rule: rule.Text, Max: rule.MaxLifetime, Deadline: deadline}
			}
			if err := outlivesAuthority(actor, update, rule.Text, rel, res.Explanation); err != nil {
				return nil, err
			}
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

// refuseShape refuses the delegated updates no grant rule can allow, whatever the
// actor holds: an actor type the schema does not define (it holds nothing), a change
// to the actor's own relationships (its access is decided by someone else, or it could
// renew its own time-bound role, lift its own suspension or unblock itself), and a
// grant to a wildcard (it reaches every subject of the type in the tenant, inside and
// outside the delegate's organisation, so it is an administrator's decision).
func refuseShape(sch *schema.Schema, actor tuple.SubjectRef, u datastore.Update, update string) error {
	if _, ok := sch.Definitions[actor.Type]; !ok {
		return &PermissionDeniedError{Actor: actor, Update: update,
			Reason: fmt.Sprintf("the acting subject's type %q is not defined in the schema, so it holds no rights", actor.Type)}
	}
	sub := u.Relationship.Subject
	if sub.Object() == actor.Object() && (sub.Relation == "" || sub.Relation == tuple.Ellipsis) {
		return &PermissionDeniedError{Actor: actor, Update: update,
			Reason: "a delegate may not change its own access; another administrator must make this change"}
	}
	if sub.IsWildcard() && u.Op != datastore.OpDelete {
		return &PermissionDeniedError{Actor: actor, Update: update,
			Reason: fmt.Sprintf("a delegate may not grant to the wildcard %s, which reaches every %s of the tenant; an administrator must write it", sub, sub.Type)}
	}
	return nil
}

// outlivesAuthority refuses a grant under a time-bounded rule that would outlive the
// actor's own authority: otherwise a delegate given admin for 30 days could appoint
// another admin for 90, who appoints the first again, and the bound would bind no one.
func outlivesAuthority(actor tuple.SubjectRef, update, rule string, rel tuple.Relationship, explanation *engine.ExplainNode) error {
	if explanation == nil {
		return &PermissionDeniedError{Actor: actor, Update: update, Rule: rule,
			Reason: "the check did not explain the acting subject's authority, so how long it lasts is unknown"}
	}
	end := authorityEnds(explanation)
	if end.At.IsZero() || (rel.HasExpiration() && !rel.Expiration.After(end.At)) {
		return nil
	}
	cause := "relationships it rests on expire"
	if end.Cause != nil {
		cause = end.Cause.String() + " expires"
	}
	return &PermissionDeniedError{Actor: actor, Update: update, Rule: rule,
		Reason: fmt.Sprintf("the acting subject's own authority on %s ends at %s, when %s, and a grant it makes under a time-bounded rule must expire by then",
			rel.Resource, end.At.UTC().Format(time.RFC3339), cause)}
}

// checkActor returns the acting subject a delegated request names, as one concrete
// object ("type:id#..." is the object itself), or a refusal. A subject set or a
// wildcard is not someone who can act: a subject set is trivially a member of its own
// relation, so acting as "organization:acme#admin" would pass every rule that admin
// passes without anyone holding it.
func checkActor(actor *tuple.SubjectRef) (*tuple.SubjectRef, error) {
	if actor == nil {
		return nil, nil
	}
	a := *actor
	if a.Relation == tuple.Ellipsis {
		a.Relation = ""
	}
	switch {
	case a.IsWildcard():
		return &a, &ActorError{Actor: a, Reason: "a wildcard is not one subject; name the person or service that acts"}
	case a.Relation != "":
		return &a, &ActorError{Actor: a, Reason: fmt.Sprintf("a subject set (relation %q) is not one subject; name the person or service that acts, not the role it holds", a.Relation)}
	}
	return &a, nil
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
// returns the refusal. Every refusal the write path decides is kept (the rules', the
// schema's, a precondition's, a limit's), because an auditor needs each attempt a
// delegate made; failures of the store or of the request's context pass through
// unrecorded, as do writes without an actor.
func (w *Writer) recordDenial(ctx context.Context, tenant string, meta txMeta, attempted []datastore.Update, refusal error) error {
	if meta.Actor == nil || !isRefusal(refusal) || ctx.Err() != nil {
		return refusal
	}
	m := datastore.TxMetadata(meta)
	m.Denied = &datastore.Denial{Message: refusal.Error(), Updates: wellFormed(attempted)}
	_, err := w.ds.ReadWriteTx(ctx, tenant, m, func(context.Context, datastore.ReadWriteTx) error { return nil })
	if err != nil {
		return fmt.Errorf("%w (and recording the refusal in the audit trail failed: %v)", refusal, err)
	}
	return refusal
}

// isRefusal reports whether err is the write path's decision about the request, as
// opposed to a failure to decide.
func isRefusal(err error) bool {
	for _, kind := range []error{datastore.ErrPermissionDenied, datastore.ErrInvalidArgument, datastore.ErrFailedPrecondition,
		datastore.ErrAlreadyExists, datastore.ErrResourceExhausted} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

// wellFormed returns the updates for a denial record, or none when one of them is not
// a well-formed relationship, which the store need not be able to keep.
func wellFormed(updates []datastore.Update) []datastore.Update {
	for _, u := range updates {
		if tuple.Validate(u.Relationship) != nil {
			return nil
		}
	}
	return updates
}

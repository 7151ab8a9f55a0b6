package write

import (
	"context"
	"errors"
	"fmt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/scim"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// ScimOperation is one SCIM request's change: which connection makes it (as the
// token resolved it), the operation ("scim.users.create") and the audit reason.
type ScimOperation struct {
	Tenant     string
	Connection scim.Connection
	// Token is the bearer token the request came with; the transaction checks it is
	// still the connection's, so a rotation or revocation that commits between
	// authentication and the write wins.
	Token     string
	Operation string
	Reason    string
}

// Provisioning is the view of one SCIM transaction that the SCIM endpoints change
// resources through. Records are written at once; relationship updates are queued
// and, when the function returns, authorised and written in the same transaction.
type Provisioning struct {
	ctx   context.Context
	w     *Writer
	op    ScimOperation
	tx    datastore.ReadWriteTx
	sch   *schema.Schema
	conn  scim.Connection
	ups   []datastore.Update
	owned []tuple.Relationship // group owner links written in this transaction
	// removals are offboarding deletions, bounded by the organisation's subtree.
	removals []datastore.Update
	reason   string
}

// Snapshot reads the state the transaction builds on.
func (p *Provisioning) Snapshot() datastore.Reader { return p.tx.Snapshot() }

// Connection is the connection as the transaction read it.
func (p *Provisioning) Connection() *scim.Connection { return &p.conn }

// Schema is the tenant's schema at the snapshot.
func (p *Provisioning) Schema() *schema.Schema { return p.sch }

// SetReason replaces the audit reason.
func (p *Provisioning) SetReason(r string) { p.reason = r }

// PutRecord writes a SCIM resource's record.
func (p *Provisioning) PutRecord(rec datastore.Record) error { return p.tx.PutRecord(p.ctx, rec) }

// DeleteRecord deletes a SCIM resource's record.
func (p *Provisioning) DeleteRecord(kind, id string) error { return p.tx.DeleteRecord(p.ctx, kind, id) }

// Touch queues the creation (or refresh) of a relationship the directory manages.
func (p *Provisioning) Touch(rel tuple.Relationship) {
	p.ups = append(p.ups, datastore.Update{Op: datastore.OpTouch, Relationship: rel})
}

// Delete queues the removal of a relationship the directory manages.
func (p *Provisioning) Delete(rel tuple.Relationship) {
	p.ups = append(p.ups, datastore.Update{Op: datastore.OpDelete, Relationship: rel})
}

// OwnGroup queues group:ID#owner@ORG, the link that puts a directory's group in its
// organisation's subtree. It is the connection's structural right: the creator was
// allowed to manage the organisation's directory when the connection was made.
func (p *Provisioning) OwnGroup(id string) {
	rel := tuple.Relationship{Resource: tuple.ObjectRef{Type: ScimGroupType, ID: id}, Relation: "owner",
		Subject: tuple.SubjectRef{Type: p.conn.Organization.Type, ID: p.conn.Organization.ID}}
	p.owned = append(p.owned, rel)
}

// DisownGroup queues the removal of a group's owner link.
func (p *Provisioning) DisownGroup(id string) {
	p.removals = append(p.removals, datastore.Update{Op: datastore.OpDelete, Relationship: tuple.Relationship{
		Resource: tuple.ObjectRef{Type: ScimGroupType, ID: id}, Relation: "owner",
		Subject: tuple.SubjectRef{Type: p.conn.Organization.Type, ID: p.conn.Organization.ID}}})
}

// Offboard queues the removal of every relationship of subject inside the
// connection's organisation subtree, as Writer.Offboard selects them, and returns
// them. Deprovisioning only removes access, inside the subtree the directory
// governs, so these deletions are bounded by the subtree rather than by the
// creator's grant rules: a deprovisioned person never keeps a grant because its
// creator could not have revoked it.
func (p *Provisioning) Offboard(subject tuple.SubjectRef) ([]tuple.Relationship, error) {
	org := p.conn.Organization
	removed, err := offboardSelection(p.ctx, p.tx.Snapshot(), p.sch, subject, &org)
	if err != nil {
		return nil, err
	}
	p.removals = append(p.removals, deletes(removed)...)
	return removed, nil
}

// Members returns the subjects of resource#relation at the snapshot.
func (p *Provisioning) Members(resource tuple.ObjectRef, relation string) ([]tuple.SubjectRef, error) {
	var out []tuple.SubjectRef
	f := datastore.RelationshipFilter{ResourceType: resource.Type, ResourceIDs: []string{resource.ID}, Relation: relation}
	for rel, err := range p.tx.Snapshot().QueryRelationships(p.ctx, f, datastore.QueryOptions{}) {
		if err != nil {
			return nil, err
		}
		out = append(out, rel.Subject)
	}
	return out, nil
}

// Provision runs fn in one transaction of op.Tenant and then authorises and writes
// the relationship updates it queued: as a delegated write of the connection's
// creator under the grant rules (with the connection's new group owner links taken
// as stored), or, for a connection an admin key made, within the schema and the
// role mappings' rules. Every write and every refusal is audited with the connection
// as principal. fn's error (a *scim.Error, say) rolls everything back.
func (w *Writer) Provision(ctx context.Context, op ScimOperation, fn func(ctx context.Context, p *Provisioning) error) (datastore.Revision, error) {
	conn := op.Connection
	meta := txMeta{Principal: conn.Principal(), Actor: conn.Creator, Reason: op.Reason, Operation: op.Operation,
		Organizations: []tuple.ObjectRef{conn.Organization}}
	var attempted []datastore.Update
	rev, err := w.ds.ReadWriteTx(ctx, op.Tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		snap := tx.Snapshot()
		rec, err := snap.ReadRecord(ctx, scim.ConnectionKind, conn.Name)
		if errors.Is(err, datastore.ErrNotFound) {
			return &ScimTokenError{Reason: "the SCIM connection no longer exists"}
		}
		if err != nil {
			return err
		}
		current, err := scim.DecodeConnection(rec)
		if err != nil {
			return err
		}
		if !current.Matches(op.Token) {
			return &ScimTokenError{Reason: "the bearer token is not a current SCIM connection token (rotated or revoked)"}
		}
		sch, err := w.eng.Schema(ctx, op.Tenant, snap.Revision())
		if err != nil {
			return err
		}
		p := &Provisioning{ctx: ctx, w: w, op: op, tx: tx, sch: sch, conn: current, reason: op.Reason}
		if err := fn(ctx, p); err != nil {
			return err
		}
		attempted = append(append(append([]datastore.Update(nil), p.removals...), ownerUpdates(p.owned)...), p.ups...)
		stored, grants, err := w.authorizeProvisioning(ctx, op.Tenant, snap.Revision(), p)
		if err != nil {
			return err
		}
		m := meta
		m.Reason = p.reason
		tx.SetMetadata(m.withGrants(grants))
		w.limitRelationships(tx, op.Tenant)
		if len(stored) == 0 {
			return nil
		}
		return tx.WriteRelationships(ctx, stored)
	})
	if err != nil {
		return 0, w.recordProvisionDenial(ctx, op.Tenant, meta, attempted, err)
	}
	return rev, nil
}

func ownerUpdates(rels []tuple.Relationship) []datastore.Update {
	out := make([]datastore.Update, len(rels))
	for i, r := range rels {
		out[i] = datastore.Update{Op: datastore.OpTouch, Relationship: r}
	}
	return out
}

// authorizeProvisioning checks the queued updates and returns them in write order
// (removals, owner links, the rest), with grantors recorded on delegated grants.
func (w *Writer) authorizeProvisioning(ctx context.Context, tenant string, rev datastore.Revision, p *Provisioning) ([]datastore.Update, []datastore.GrantRecord, error) {
	for i, u := range p.ups {
		if u.Op == datastore.OpDelete {
			continue
		}
		if err := p.sch.ValidateRelationship(u.Relationship); err != nil {
			return nil, nil, invalidf("SCIM write %d (%s): %v", i, u.Relationship, err)
		}
		if u.Relationship.Resource == p.conn.Organization && u.Relationship.Relation != ScimMemberRelation {
			if err := w.checkRoleMapping(ctx, tenant, rev, p.sch, &p.conn, scim.RoleMapping{Group: "(group " + u.Relationship.Subject.ID + ")", Relation: u.Relationship.Relation}); err != nil {
				return nil, nil, err
			}
		}
	}
	var grants []datastore.GrantRecord
	var rights []datastore.Update
	for _, r := range p.owned {
		grants = append(grants, datastore.GrantRecord{Relationship: r.Key(), Rule: fmt.Sprintf("the SCIM connection %q owns its groups", p.conn.Name), Via: &p.conn.Organization})
	}
	rights = p.ups
	if p.conn.Creator != nil && len(p.ups) > 0 {
		g, err := w.authorize(ctx, tenant, rev, p.sch, *p.conn.Creator, p.ups, p.owned...)
		if err != nil {
			return nil, nil, err
		}
		rights = withGrantor(p.ups, *p.conn.Creator, g)
		grants = append(grants, g...)
	}
	for _, u := range p.removals {
		grants = append(grants, datastore.GrantRecord{Relationship: u.Relationship.Key(),
			Rule: fmt.Sprintf("deprovisioning inside %s's subtree", p.conn.Organization), Via: &p.conn.Organization})
	}
	out := make([]datastore.Update, 0, len(p.removals)+len(p.owned)+len(rights))
	out = append(out, p.removals...)
	out = append(out, ownerUpdates(p.owned)...)
	out = append(out, dedupUpdates(rights)...)
	return out, grants, nil
}

// dedupUpdates keeps the last update of each relationship, in order: a PATCH may
// add and then remove the same member.
func dedupUpdates(ups []datastore.Update) []datastore.Update {
	last := map[tuple.Key]int{}
	for i, u := range ups {
		last[u.Relationship.Key()] = i
	}
	out := ups[:0:0]
	for i, u := range ups {
		if last[u.Relationship.Key()] == i {
			out = append(out, u)
		}
	}
	return out
}

// recordProvisionDenial audits a refused SCIM change with what it attempted.
func (w *Writer) recordProvisionDenial(ctx context.Context, tenant string, meta txMeta, attempted []datastore.Update, refusal error) error {
	var tokenErr *ScimTokenError
	if ctx.Err() != nil || !(isRefusal(refusal) || errors.Is(refusal, datastore.ErrNotFound) || errors.As(refusal, &tokenErr)) || errors.Is(refusal, datastore.ErrTenantNotFound) {
		return refusal
	}
	m := datastore.TxMetadata(meta)
	m.Denied = &datastore.Denial{Message: refusal.Error(), Updates: wellFormed(attempted)}
	if _, err := w.ds.ReadWriteTx(ctx, tenant, m, func(context.Context, datastore.ReadWriteTx) error { return nil }); err != nil {
		return fmt.Errorf("%w (and recording the refusal in the audit trail failed: %v)", refusal, err)
	}
	return refusal
}

// RecordScimRefusal audits a SCIM request refused before any transaction (a bad
// token, a malformed filter, a body over the limit): principal, operation and why.
func (w *Writer) RecordScimRefusal(ctx context.Context, tenant, principal, operation string, refusal error) error {
	if tenant == "" || ctx.Err() != nil {
		return nil
	}
	m := datastore.TxMetadata{Principal: principal, Operation: operation, Denied: &datastore.Denial{Message: refusal.Error()}}
	_, err := w.ds.ReadWriteTx(ctx, tenant, m, func(context.Context, datastore.ReadWriteTx) error { return nil })
	return err
}

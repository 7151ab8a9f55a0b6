package write

import (
	"context"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// decision is one operation on a pending request, run inside its transaction.
type decision struct {
	op string // "approve", "deny", "cancel"
	// apply changes r (and may write the grant) at the transaction's snapshot.
	apply func(ctx context.Context, d *decisionTx) error
}

// decisionTx is what a decision works with.
type decisionTx struct {
	tx     datastore.ReadWriteTx
	tenant string
	sch    *schema.Schema
	actor  tuple.SubjectRef
	meta   txMeta
	now    time.Time
	reason string
	r      *requests.AccessRequest
}

// ApproveAccessRequest records req.Actor's approval of request id, for the first
// party still to approve that the actor satisfies at the transaction's snapshot.
// When it is the last approval needed, the relationship is written in the same
// transaction, expiring at the earliest of the policy's bound, the requested
// duration, each approver's duration and each approver's own authority. duration
// (zero: as long as allowed) is the most this approver gives.
func (w *Writer) ApproveAccessRequest(ctx context.Context, req Request, id string, duration time.Duration) (requests.AccessRequest, error) {
	return w.decide(ctx, req, id, decision{op: "approve", apply: func(ctx context.Context, d *decisionTx) error {
		return w.approve(ctx, d, duration)
	}})
}

// DenyAccessRequest denies request id; the actor must satisfy a party still to
// approve, as an approver would.
func (w *Writer) DenyAccessRequest(ctx context.Context, req Request, id string) (requests.AccessRequest, error) {
	return w.decide(ctx, req, id, decision{op: "deny", apply: func(ctx context.Context, d *decisionTx) error {
		policy, err := d.policy()
		if err != nil {
			return err
		}
		e, err := requests.Eligible(ctx, w.eng, d.tenant, d.tx.Snapshot().Revision(), policy, d.r, d.actor, false)
		if err != nil {
			return err
		}
		if e.Party == 0 {
			return d.refuse("satisfies no party still to approve: " + requests.Describe(policy))
		}
		d.finish(requests.Denied)
		return nil
	}})
}

// CancelAccessRequest withdraws request id; only its requester may.
func (w *Writer) CancelAccessRequest(ctx context.Context, req Request, id string) (requests.AccessRequest, error) {
	return w.decide(ctx, req, id, decision{op: "cancel", apply: func(_ context.Context, d *decisionTx) error {
		if d.r.Requester != d.actor {
			return d.refuse(fmt.Sprintf("only the requester, %s, may cancel it", d.r.Requester))
		}
		d.finish(requests.Cancelled)
		return nil
	}})
}

// decide runs one decision in one transaction: it reads the request at the
// snapshot, stores it as expired (and refuses) when it is past its expiry, refuses
// one that is not pending, applies the decision and stores the request. Every
// refusal is kept in the audit trail.
func (w *Writer) decide(ctx context.Context, req Request, id string, dec decision) (requests.AccessRequest, error) {
	tenant, meta, err := w.beginRequest(req, "request."+dec.op)
	if err == nil && id == "" {
		err = invalidf("request.%s: the access request id is empty", dec.op)
	}
	if err != nil {
		return requests.AccessRequest{}, w.recordRequestDenial(ctx, tenant, meta, tuple.Relationship{}, err)
	}
	now := w.cfg.Now()
	var r requests.AccessRequest
	var expired error
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		expired = nil
		snap := tx.Snapshot()
		var err error
		if r, err = requests.Get(ctx, snap, tenant, id); err != nil {
			return err
		}
		switch r.StateAt(now) {
		case requests.Pending:
		case requests.Expired:
			if r.State == requests.Pending {
				// The sweep commits; the refusal is returned once it has.
				expired = requests.NotPending(&r, now)
				m := datastore.TxMetadata(meta)
				m.Operation, m.Denied = "request.expire", &datastore.Denial{Message: expired.Error()}
				tx.SetMetadata(m)
				return putExpired(ctx, tx, &r)
			}
			return requests.NotPending(&r, now)
		default:
			return requests.NotPending(&r, now)
		}
		sch, err := w.eng.Schema(ctx, tenant, snap.Revision())
		if err != nil {
			return err
		}
		d := &decisionTx{tx: tx, tenant: tenant, sch: sch, actor: *meta.Actor, meta: meta, now: now, reason: req.Reason, r: &r}
		tx.SetMetadata(datastore.TxMetadata(meta))
		if err := dec.apply(ctx, d); err != nil {
			return err
		}
		rec, err := r.Record()
		if err != nil {
			return err
		}
		return tx.PutRecord(ctx, rec)
	})
	if err == nil {
		err = expired
	}
	if err != nil {
		return requests.AccessRequest{}, w.recordRequestDenial(ctx, tenant, meta, r.Relationship(), err)
	}
	r.Revision = rev
	return r, nil
}

// policy is the approval policy of the request at the transaction's snapshot.
func (d *decisionTx) policy() (schema.ApprovalPolicy, error) {
	p, ok := d.sch.ApprovalPolicy(d.r.Resource.Type, d.r.Relation)
	if !ok {
		return p, &RequestRefusedError{Precondition: true, What: d.what(),
			Reason: fmt.Sprintf("relation %s#%s no longer has a grant rule or an approval rule in the schema", d.r.Resource.Type, d.r.Relation)}
	}
	return p, nil
}

func (d *decisionTx) what() string {
	return fmt.Sprintf("%s access request %s (%s)", d.meta.Operation[len("request."):], d.r.ID, d.r.Relationship().Key())
}

func (d *decisionTx) refuse(reason string) error {
	return &RequestRefusedError{Actor: d.actor, What: d.what(), Reason: reason}
}

// finish moves the request to a final state, decided by the actor now.
func (d *decisionTx) finish(s requests.State) {
	by := d.actor
	d.r.State, d.r.DecidedBy, d.r.DecisionReason, d.r.DecidedAt = s, &by, d.reason, d.now
}

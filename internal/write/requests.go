package write

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// DefaultRequestTTL is Config.RequestTTL's default: how long a request stays pending.
const DefaultRequestTTL = 7 * 24 * time.Hour

// MaxRequestReason is the most bytes a request's or a decision's reason may hold.
const MaxRequestReason = 1024

// NewAccessRequest is what a subject asks for.
type NewAccessRequest struct {
	Resource tuple.ObjectRef
	Relation string
	// Subject is who would get the relation; the acting subject itself, or one of the
	// people of Organization when the acting subject administers it.
	Subject tuple.SubjectRef
	// Organization is the requester's organisation, required by (and only by) a
	// policy with a requester binding.
	Organization *tuple.ObjectRef
	// Duration is the lifetime asked for (zero: as long as the policy allows).
	Duration time.Duration
}

// CreateAccessRequest files a request on behalf of req.Actor, with req.Reason. A
// pending request for the same relationship is returned instead of a new one
// (created is then false). The relation must have an approval policy, the duration
// must be within its bound, and the requester must be the subject or, under a
// requester binding, satisfy a party "on requester" on the subject's organisation.
func (w *Writer) CreateAccessRequest(ctx context.Context, req Request, in NewAccessRequest) (r requests.AccessRequest, created bool, err error) {
	tenant, meta, err := w.beginRequest(req, "request.create")
	rel := tuple.Relationship{Resource: in.Resource, Relation: in.Relation, Subject: in.Subject}
	if err == nil {
		err = validateNewRequest(in, rel)
	}
	if err != nil {
		return requests.AccessRequest{}, false, w.recordRequestDenial(ctx, tenant, meta, rel, err)
	}
	now := w.cfg.Now()
	id := requests.NewID(now)
	var existing *requests.AccessRequest
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		existing = nil
		snap := tx.Snapshot()
		sch, err := w.eng.Schema(ctx, tenant, snap.Revision())
		if err != nil {
			return err
		}
		r = requests.AccessRequest{ID: id, Resource: in.Resource, Relation: in.Relation, Subject: in.Subject,
			Requester: *meta.Actor, Organization: in.Organization, Reason: req.Reason, Duration: in.Duration,
			State: requests.Pending, CreatedAt: now, ExpiresAt: now.Add(w.cfg.RequestTTL)}
		policy, err := w.admitRequest(ctx, tenant, snap.Revision(), sch, &r, now)
		if err != nil {
			return err
		}
		found, err := w.pendingDuplicate(ctx, tx, rel, now)
		if err != nil {
			return err
		}
		if found != nil {
			existing = found
			return errDuplicateRequest // nothing to write: roll back
		}
		rec, err := r.Record()
		if err != nil {
			return err
		}
		tx.SetMetadata(withOrganizations(meta.withGrants(nil), policyOrganizations(policy, &r)))
		return tx.PutRecord(ctx, rec)
	})
	if errors.Is(err, errDuplicateRequest) {
		return *existing, false, nil
	}
	if err != nil {
		return requests.AccessRequest{}, false, w.recordRequestDenial(ctx, tenant, meta, rel, err)
	}
	r.Revision = rev
	return r, true, nil
}

// errDuplicateRequest rolls back the transaction of a request that collapses into a
// pending one.
var errDuplicateRequest = errors.New("a pending request for the relationship exists")

// validateNewRequest checks a request's shape before any store access.
func validateNewRequest(in NewAccessRequest, rel tuple.Relationship) error {
	if err := tuple.Validate(rel); err != nil {
		return invalidf("access request: %v", err)
	}
	if in.Subject.IsWildcard() {
		return invalidf("access request: subject %s is a wildcard; a request is for one subject", in.Subject)
	}
	if in.Duration < 0 {
		return invalidf("access request: duration %s is negative", in.Duration)
	}
	if in.Organization != nil {
		if err := tuple.ValidateObject("organization", *in.Organization); err != nil {
			return invalidf("access request: %v", err)
		}
	}
	return nil
}

// admitRequest checks a new request against the schema and the state at rev: the
// relation's policy, the duration, the requester binding and the requester's right
// to ask for this subject.
func (w *Writer) admitRequest(ctx context.Context, tenant string, rev datastore.Revision, sch *schema.Schema, r *requests.AccessRequest, now time.Time) (schema.ApprovalPolicy, error) {
	rel := r.Relationship()
	if r.Duration > 0 {
		rel.Expiration = now.Add(r.Duration)
	}
	if err := sch.ValidateRelationship(rel); err != nil {
		return schema.ApprovalPolicy{}, invalidf("access request for %s: %v", rel.Key(), err)
	}
	policy, ok := sch.ApprovalPolicy(r.Resource.Type, r.Relation)
	if !ok {
		return policy, &RequestRefusedError{Precondition: true, What: "request " + rel.Key().String(),
			Reason: fmt.Sprintf("relation %s#%s has neither a grant rule nor an approval rule, so it cannot be granted through requests", r.Resource.Type, r.Relation)}
	}
	if policy.MaxDuration > 0 && r.Duration > policy.MaxDuration {
		return policy, invalidf("access request for %s: duration %s exceeds the %s the schema allows for %s#%s",
			rel.Key(), r.Duration, formatDuration(policy.MaxDuration), r.Resource.Type, r.Relation)
	}
	if err := checkBinding(policy, r); err != nil {
		return policy, err
	}
	in, err := requests.InRequesterOrganization(ctx, w.eng, tenant, rev, policy, r)
	if err != nil {
		return policy, err
	}
	if !in {
		return policy, &RequestRefusedError{Precondition: true, What: "request " + rel.Key().String(),
			Reason: fmt.Sprintf("%s is not in %s#%s, which the approval rule requires", r.Subject, r.Organization, policy.Requester.Relation)}
	}
	if r.Subject.Object() == r.Requester.Object() && r.Subject.Relation == "" {
		return policy, nil
	}
	// Asking for someone else: an admin of the requester organisation for its people.
	if policy.Requester != nil {
		for _, p := range policy.Parties {
			if p.On != schema.OnRequester {
				continue
			}
			one := schema.ApprovalPolicy{Parties: []schema.Party{p}}
			e, err := requests.Eligible(ctx, w.eng, tenant, rev, one, r, r.Requester, false)
			if err != nil {
				return policy, err
			}
			if e.Party != 0 {
				return policy, nil
			}
		}
	}
	return policy, &RequestRefusedError{Actor: r.Requester, What: "request " + rel.Key().String(),
		Reason: "a subject may request access for itself, or for a person of an organisation whose approver it is under the relation's approval rule"}
}

// checkBinding checks that a request names an organisation exactly when its policy
// binds the requester, and one of the binding's type.
func checkBinding(policy schema.ApprovalPolicy, r *requests.AccessRequest) error {
	b := policy.Requester
	switch {
	case b == nil && r.Organization != nil:
		return invalidf("access request for %s#%s: organization %s given, but the relation's approval policy does not bind the requester's organisation", r.Resource.Type, r.Relation, r.Organization)
	case b != nil && r.Organization == nil:
		return invalidf("access request for %s#%s: the approval rule %q needs the requester's organisation: name the %s the subject belongs to", r.Resource.Type, r.Relation, policy.Rule.Text, b.Type)
	case b != nil && r.Organization.Type != b.Type:
		return invalidf("access request for %s#%s: organization %s is not a %s, as the approval rule requires", r.Resource.Type, r.Relation, r.Organization, b.Type)
	}
	return nil
}

// pendingDuplicate returns the pending request for rel, if there is one at the
// transaction's snapshot; one found expired is stored as expired on the way.
func (w *Writer) pendingDuplicate(ctx context.Context, tx datastore.ReadWriteTx, rel tuple.Relationship, now time.Time) (*requests.AccessRequest, error) {
	for rec, err := range tx.Snapshot().ListRecords(ctx, requests.Kind, datastore.RecordQuery{Key: requests.DedupKey(rel)}) {
		if err != nil {
			return nil, err
		}
		r, err := requests.Decode(rec)
		if err != nil {
			return nil, err
		}
		switch r.StateAt(now) {
		case requests.Pending:
			return &r, nil
		case requests.Expired:
			if err := putExpired(ctx, tx, &r); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// putExpired stores a pending request past its expiry as expired.
func putExpired(ctx context.Context, tx datastore.ReadWriteTx, r *requests.AccessRequest) error {
	r.State, r.DecidedAt = requests.Expired, r.ExpiresAt
	rec, err := r.Record()
	if err != nil {
		return err
	}
	return tx.PutRecord(ctx, rec)
}

// policyOrganizations are the organisations a request involves, for the audit trail.
func policyOrganizations(policy schema.ApprovalPolicy, r *requests.AccessRequest) []tuple.ObjectRef {
	if policy.Requester != nil && r.Organization != nil {
		return []tuple.ObjectRef{*r.Organization}
	}
	return nil
}

// beginRequest resolves what an operation on requests needs: the tenant and the
// metadata, with an acting subject, which every operation on requests has.
func (w *Writer) beginRequest(req Request, op string) (string, txMeta, error) {
	tenant, meta, err := req.begin(op)
	if err != nil {
		return tenant, meta, err
	}
	if meta.Actor == nil {
		return tenant, meta, invalidf("%s: name the acting subject; access requests are made and decided by subjects", op)
	}
	if len(req.Reason) > MaxRequestReason {
		return tenant, meta, invalidf("%s: reason is %d bytes, more than the %d allowed", op, len(req.Reason), MaxRequestReason)
	}
	return tenant, meta, nil
}

// recordRequestDenial keeps a refused operation on a request in the audit trail,
// like a refused delegated write, and returns the refusal. An unknown request id is
// kept too, so probing for requests of other tenants shows in the trail.
func (w *Writer) recordRequestDenial(ctx context.Context, tenant string, meta txMeta, rel tuple.Relationship, refusal error) error {
	if !errors.Is(refusal, datastore.ErrNotFound) || tenant == "" || meta.Actor == nil || ctx.Err() != nil {
		var attempted []datastore.Update
		if tuple.Validate(rel) == nil {
			attempted = []datastore.Update{{Op: datastore.OpTouch, Relationship: rel}}
		}
		return w.recordDenial(ctx, tenant, meta, attempted, refusal)
	}
	var nf *requests.NotFoundError
	if !errors.As(refusal, &nf) {
		return refusal // a missing tenant: there is no trail to keep it in
	}
	m := datastore.TxMetadata(meta)
	m.Denied = &datastore.Denial{Message: refusal.Error()}
	if _, err := w.ds.ReadWriteTx(ctx, tenant, m, func(context.Context, datastore.ReadWriteTx) error { return nil }); err != nil {
		return fmt.Errorf("%w (and recording the refusal in the audit trail failed: %v)", refusal, err)
	}
	return refusal
}

// withOrganizations returns the metadata with more organisations named.
func withOrganizations(m datastore.TxMetadata, orgs []tuple.ObjectRef) datastore.TxMetadata {
	seen := map[tuple.ObjectRef]bool{}
	for _, o := range m.Organizations {
		seen[o] = true
	}
	for _, o := range orgs {
		if !seen[o] {
			seen[o] = true
			m.Organizations = append(m.Organizations, o)
		}
	}
	return m
}

package write

import (
	"context"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// approve records the actor's approval and, when it completes the policy, writes
// the grant (see ApproveAccessRequest).
func (w *Writer) approve(ctx context.Context, d *decisionTx, duration time.Duration) error {
	r := d.r
	policy, err := d.policy()
	if err != nil {
		return err
	}
	if r.Subject.Object() == d.actor.Object() && r.Subject.Relation == "" {
		return d.refuse("a subject may not approve its own access; the policy's other approvers must")
	}
	if p := r.ApprovedBy(d.actor); p != 0 {
		return d.refuse(fmt.Sprintf("it approved the request already, for party %d; each party needs a different approver", p))
	}
	switch {
	case duration < 0:
		return invalidf("%s: duration %s is negative", d.what(), duration)
	case policy.MaxDuration > 0 && duration > policy.MaxDuration:
		return invalidf("%s: duration %s exceeds the %s the schema allows for %s#%s", d.what(), duration, formatDuration(policy.MaxDuration), r.Resource.Type, r.Relation)
	}
	rev := d.tx.Snapshot().Revision()
	e, err := requests.Eligible(ctx, w.eng, d.tenant, rev, policy, r, d.actor, true)
	if err != nil {
		return err
	}
	if e.Party == 0 {
		return d.refuse("it satisfies no party still to approve: " + requests.Describe(policy))
	}
	a := requests.Approval{Approver: d.actor, Party: e.Party, Reason: d.reason, At: d.now, Duration: duration}
	if policy.MaxDuration > 0 {
		// An approver's say lasts no longer than its own authority, as a delegated
		// grant under a time-bounded rule does.
		if e.Check.Explanation == nil {
			return d.refuse("the check did not explain the approver's authority, so how long it lasts is unknown")
		}
		a.AuthorityUntil = authorityEnds(e.Check.Explanation).At
	}
	r.Approvals = append(r.Approvals, a)
	orgs := policyOrganizations(policy, r)
	if len(r.Approvals) < len(policy.Parties) {
		if via := grantingObject(e.Check.Explanation); via != nil {
			orgs = append(orgs, *via)
		}
		d.tx.SetMetadata(withOrganizations(d.meta.withGrants(nil), orgs))
		return nil
	}
	return w.grant(ctx, d, policy, e, orgs)
}

// grant writes the relationship of a request whose last approval just arrived.
func (w *Writer) grant(ctx context.Context, d *decisionTx, policy schema.ApprovalPolicy, e requests.Eligibility, orgs []tuple.ObjectRef) error {
	r := d.r
	in, err := requests.InRequesterOrganization(ctx, w.eng, d.tenant, d.tx.Snapshot().Revision(), policy, r)
	if err != nil {
		return err
	}
	if !in {
		return &RequestRefusedError{Precondition: true, What: d.what(),
			Reason: fmt.Sprintf("%s is no longer in %s#%s, which the approval rule requires", r.Subject, r.Organization, policy.Requester.Relation)}
	}
	expiry := grantExpiry(d.now, policy.MaxDuration, r)
	if !expiry.IsZero() && !expiry.After(d.now) {
		return d.refuse("an approver's own authority has ended, so the grant would expire at once")
	}
	rel := r.Relationship()
	rel.Expiration = expiry
	if err := d.sch.ValidateRelationship(rel); err != nil {
		return &RequestRefusedError{Precondition: true, What: d.what(), Reason: fmt.Sprintf("the schema no longer allows %s: %v", rel, err)}
	}
	held, err := heldAtLeastAsLong(ctx, d.tx.Snapshot(), rel, d.now)
	if err != nil {
		return err
	}
	if held != nil {
		// The subject already holds the relationship, unconditionally and for at least
		// as long: an approval never shortens it or replaces its provenance.
		d.finish(requests.Approved)
		r.GrantExpiration = held.Expiration
		return nil
	}
	by, via, err := w.grantor(ctx, d, e)
	if err != nil {
		return err
	}
	rel.Granted = &tuple.Grant{By: by, Via: via}
	rule := ""
	if policy.Rule != nil {
		rule = policy.Rule.Text
	} else if rr, ok := d.sch.Relation(r.Resource.Type, r.Relation); ok && rr.Grant != nil {
		rule = rr.Grant.Text
	}
	grants := []datastore.GrantRecord{{Relationship: rel.Key(), Rule: rule, Via: &via}}
	d.tx.SetMetadata(withOrganizations(d.meta.withGrants(grants), orgs))
	w.limitRelationships(d.tx, d.tenant)
	if err := d.tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpTouch, Relationship: rel}}); err != nil {
		return err
	}
	d.finish(requests.Approved)
	r.GrantExpiration = expiry
	return nil
}

// grantExpiry is the earliest of: now plus the policy's bound, now plus the
// requested duration, now plus each approver's duration, and the end of each
// approver's own authority. Zero means the grant does not expire.
func grantExpiry(now time.Time, bound time.Duration, r *requests.AccessRequest) time.Time {
	var at time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	after := func(d time.Duration) {
		if d > 0 {
			earlier(now.Add(d))
		}
	}
	after(bound)
	after(r.Duration)
	for _, a := range r.Approvals {
		after(a.Duration)
		earlier(a.AuthorityUntil)
	}
	return at
}

// grantor is whom the written relationship records as its grantor, and through
// which object: the first approver, the final one first, who holds the relation's
// grant rule at the snapshot, so that a grant rule whose grants last only while
// their grantor can grant them keeps the approved grant alive; otherwise the final
// approver, through the object its approval rested on.
func (w *Writer) grantor(ctx context.Context, d *decisionTx, final requests.Eligibility) (tuple.SubjectRef, tuple.ObjectRef, error) {
	if rr, ok := d.sch.Relation(d.r.Resource.Type, d.r.Relation); ok && rr.Grant != nil {
		for i := len(d.r.Approvals) - 1; i >= 0; i-- {
			approver := d.r.Approvals[i].Approver
			res, err := w.eng.Check(ctx, engine.CheckRequest{Tenant: d.tenant, Revision: d.tx.Snapshot().Revision(),
				Resource: d.r.Resource, Permission: rr.Grant.Permission, Subject: approver, Explain: true})
			if err != nil {
				return tuple.SubjectRef{}, tuple.ObjectRef{}, fmt.Errorf("checking the grant rule of %s#%s for %s: %w", d.r.Resource.Type, d.r.Relation, approver, err)
			}
			if res.Permissionship == engine.HasPermission {
				if via := grantingObject(res.Explanation); via != nil {
					return approver, *via, nil
				}
				return approver, d.r.Resource, nil
			}
		}
	}
	if via := grantingObject(final.Check.Explanation); via != nil {
		return d.actor, *via, nil
	}
	return d.actor, d.r.Resource, nil
}

// heldAtLeastAsLong returns the stored relationship with rel's key when it already
// gives at least what rel would: no caveat, and no expiry or one no sooner than rel's.
// It returns nil when nothing is stored, the stored one has expired, or rel would
// extend it (a later expiry, or no caveat where the stored one has one), in which
// case the approval writes rel over it.
func heldAtLeastAsLong(ctx context.Context, snap datastore.Reader, rel tuple.Relationship, now time.Time) (*tuple.Relationship, error) {
	stored, err := storedByKey(ctx, snap, rel)
	if err != nil || stored == nil || stored.Caveat != nil {
		return nil, err
	}
	if stored.HasExpiration() && !stored.Expiration.After(now) {
		return nil, nil
	}
	if !stored.HasExpiration() || (rel.HasExpiration() && !stored.Expiration.Before(rel.Expiration)) {
		return stored, nil
	}
	return nil, nil
}

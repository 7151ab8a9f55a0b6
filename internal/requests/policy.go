package requests

import (
	"context"
	"fmt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Checker is what deciding who may act on a request needs from the engine: compiled
// schemas and checks at a revision. *engine.Engine implements it.
type Checker interface {
	Schema(ctx context.Context, tenant string, rev datastore.Revision) (*schema.Schema, error)
	Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error)
}

// PartyObject returns the object party p is checked on for request r: the resource,
// or the requester's organisation for a party "on requester". ok is false when r
// names no organisation for such a party.
func PartyObject(r *AccessRequest, p schema.Party) (tuple.ObjectRef, bool) {
	if p.On == schema.OnRequester {
		if r.Organization == nil {
			return tuple.ObjectRef{}, false
		}
		return *r.Organization, true
	}
	return r.Resource, true
}

// Eligibility is the first party still to approve that a subject satisfies.
type Eligibility struct {
	// Party is the party's number, from 1; 0 when the subject satisfies none.
	Party int
	// Check is the check that found it, with its explanation when asked for.
	Check engine.CheckResult
	// On is the object the party was checked on.
	On tuple.ObjectRef
}

// Eligible finds the first party of policy, not yet approved on r, that subject
// satisfies at revision rev. A subject who approved one party is eligible for no
// other: each party needs its own approver. A conditional answer does not count.
func Eligible(ctx context.Context, c Checker, tenant string, rev datastore.Revision, policy schema.ApprovalPolicy, r *AccessRequest, subject tuple.SubjectRef, explain bool) (Eligibility, error) {
	if r.ApprovedBy(subject) != 0 {
		return Eligibility{}, nil
	}
	for i, p := range policy.Parties {
		if r.partyApproved(i + 1) {
			continue
		}
		obj, ok := PartyObject(r, p)
		if !ok {
			continue
		}
		res, err := c.Check(ctx, engine.CheckRequest{Tenant: tenant, Revision: rev, Resource: obj, Permission: p.Permission, Subject: subject, Explain: explain})
		if err != nil {
			return Eligibility{}, fmt.Errorf("checking party %d of access request %s for %s: %w", i+1, r.ID, subject, err)
		}
		if res.Permissionship == engine.HasPermission {
			return Eligibility{Party: i + 1, Check: res, On: obj}, nil
		}
	}
	return Eligibility{}, nil
}

// InRequesterOrganization reports whether the requested subject is in the
// requester binding's relation on the request's organisation at rev; it is true
// when the policy has no binding.
func InRequesterOrganization(ctx context.Context, c Checker, tenant string, rev datastore.Revision, policy schema.ApprovalPolicy, r *AccessRequest) (bool, error) {
	b := policy.Requester
	if b == nil {
		return true, nil
	}
	if r.Organization == nil {
		return false, nil
	}
	res, err := c.Check(ctx, engine.CheckRequest{Tenant: tenant, Revision: rev, Resource: *r.Organization, Permission: b.Relation, Subject: r.Subject})
	if err != nil {
		return false, fmt.Errorf("checking %s#%s@%s: %w", r.Organization, b.Relation, r.Subject, err)
	}
	return res.Permissionship == engine.HasPermission, nil
}

// Describe names the parties of a policy for error messages:
// "party 1 (manage on the resource), party 2 (manage on requester)".
func Describe(policy schema.ApprovalPolicy) string {
	s := ""
	for i, p := range policy.Parties {
		if i > 0 {
			s += ", "
		}
		on := "the resource"
		if p.On == schema.OnRequester {
			on = "the requester's organisation"
		}
		s += fmt.Sprintf("party %d (%s on %s)", i+1, schema.FormatExpr(p.Expr), on)
	}
	return s
}

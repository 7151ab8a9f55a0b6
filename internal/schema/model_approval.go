package schema

import "time"

// ApprovalRule is Pemba's addition for access requests: it says whose approvals grant
// a request for a relation, and for how long at most.
//
//	approve viewer by manage and manage on requester for at most 90d
//		requester in organization#active_member
//
// A request asks for resource#relation@subject and may name the requester's
// organisation. It is approved once every party has approved it, each party by its
// own approver. Without an approval rule, the relation's grant rule is the one party:
// see Schema.ApprovalPolicy.
type ApprovalRule struct {
	// Relations are the relations the rule covers.
	Relations []string
	// Parties are evaluated with an approver as the subject; all must approve.
	Parties []Party
	// Requester binds the requester's organisation, or is nil when no party is
	// checked on it.
	Requester *RequesterBinding
	// MaxDuration bounds what an approval may give: when non-zero, the relationship
	// an approved request writes expires no later than approval time + MaxDuration.
	MaxDuration time.Duration
	// Text is the rule as written.
	Text string
	Pos  Position
}

// PartyObject says which object a party's expression is evaluated on.
type PartyObject int

// Party objects.
const (
	// OnResource evaluates the party on the resource of the request.
	OnResource PartyObject = iota + 1
	// OnRequester evaluates it on the requester's organisation (see RequesterBinding).
	OnRequester
)

// Party is one party whose approval a request needs.
type Party struct {
	// Expr is the party's permission expression, over the relations of Definition.
	Expr Expr
	On   PartyObject
	// Definition is the type Expr is written against: the resource's definition, or
	// the requester binding's type.
	Definition string
	// Permission is the hidden permission the compiler synthesised from Expr on
	// Definition, so the engine checks a party like any permission. Its name starts
	// with ApprovalPermissionPrefix and is not a valid identifier.
	Permission string
	Pos        Position
}

// RequesterBinding is "requester in TYPE#RELATION": a request under the rule names
// an object of Type (the requester's organisation), and is valid only while the
// requested subject is in that object's Relation; parties on the requester are
// checked on that object.
type RequesterBinding struct {
	Type, Relation string
	Pos            Position
}

// ApprovalPolicy is what approving a request for one relation takes.
type ApprovalPolicy struct {
	// Rule is the approval rule, or nil when the policy comes from the grant rule.
	Rule *ApprovalRule
	// Parties all must approve, each by a different approver.
	Parties []Party
	// Requester is the requester binding, or nil.
	Requester *RequesterBinding
	// MaxDuration bounds the approved relationship's lifetime (zero: no bound). It
	// is the smaller of the approval rule's `for at most` and the grant rule's
	// `expiring within`, when both are set.
	MaxDuration time.Duration
}

// ApprovalRule returns the approval rule covering relation typ#relation, or nil.
func (s *Schema) ApprovalRule(typ, relation string) *ApprovalRule {
	r, ok := s.Relation(typ, relation)
	if !ok {
		return nil
	}
	return r.Approval
}

// ApprovalPolicy says what approving a request for relation typ#relation takes. With
// an approval rule, its parties and bound (the grant rule's `expiring within` still
// caps the bound). Without one, whoever may grant the relation under its grant rule
// approves alone, for at most the grant rule's `expiring within`. ok is false when
// the relation has neither rule: no request for it can be approved by a delegate.
func (s *Schema) ApprovalPolicy(typ, relation string) (p ApprovalPolicy, ok bool) {
	r, found := s.Relation(typ, relation)
	if !found || r.Kind != KindRelation {
		return ApprovalPolicy{}, false
	}
	var grantBound time.Duration
	if r.Grant != nil {
		grantBound = r.Grant.MaxLifetime
	}
	if a := r.Approval; a != nil {
		bound := a.MaxDuration
		if grantBound > 0 && (bound == 0 || grantBound < bound) {
			bound = grantBound
		}
		return ApprovalPolicy{Rule: a, Parties: a.Parties, Requester: a.Requester, MaxDuration: bound}, true
	}
	if g := r.Grant; g != nil {
		party := Party{Expr: g.Expr, On: OnResource, Definition: typ, Permission: g.Permission, Pos: g.Pos}
		return ApprovalPolicy{Parties: []Party{party}, MaxDuration: grantBound}, true
	}
	return ApprovalPolicy{}, false
}

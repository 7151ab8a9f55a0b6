package schema

import (
	"time"

	"github.com/pemba-authz/pemba/internal/caveat"
)

// Position is a place in a schema source: file name, 1-based line and column (in
// characters).
type Position struct {
	File string
	Line int
	Col  int
}

// Schema is a compiled schema: the typed model the engine, the write path and the
// schema tooling use. It is immutable once compiled and safe to share.
type Schema struct {
	// Definitions by name, e.g. "document" or "acme/document".
	Definitions map[string]*Definition
	// Caveats by name.
	Caveats map[string]*Caveat
	// UseExpiration is set when the schema says "use expiration".
	UseExpiration bool
	// Order lists definition and caveat names in the order they were written.
	Order []string
	// Source is the text the schema was compiled from.
	Source string
}

// Definition is one object type.
type Definition struct {
	Name    string
	Comment string // doc comment, as written (without comment markers)
	// Relations holds relations and permissions by name; they share one namespace.
	Relations map[string]*Relation
	// Order lists relation and permission names in the order they were written.
	Order []string
	// Grants lists the grant rules in the order they were written. Each relation with
	// a rule also points at it through Relation.Grant.
	Grants []*GrantRule
	// Approvals lists the approval rules in the order they were written; each covered
	// relation points at its rule through Relation.Approval.
	Approvals []*ApprovalRule
	Pos       Position
}

// RelationKind tells a stored relation from a computed permission.
type RelationKind int

// Relation kinds.
const (
	KindRelation RelationKind = iota + 1
	KindPermission
)

// Relation is a relation (stored relationships, with allowed subject types) or a
// permission (an expression over other relations and permissions).
type Relation struct {
	Name       string
	Kind       RelationKind
	Definition string // the owning definition's name
	Comment    string
	// AllowedSubjects lists what a relation may point at (KindRelation only).
	AllowedSubjects []AllowedSubject
	// Expr is the permission's expression (KindPermission only).
	Expr Expr
	// Grant is the rule that authorises delegated writes of this relation, or nil when
	// delegates may not write it (KindRelation only).
	Grant *GrantRule
	// Approval is the rule that says who approves requests for this relation, or nil
	// (KindRelation only).
	Approval *ApprovalRule
	// Synthetic marks a permission the compiler made (for a grant or approval rule); schema
	// printing and permission listings leave it out.
	Synthetic bool
	Pos       Position
}

// AllowedSubject is one entry of a relation's type list, e.g. "user", "user:*",
// "group#member", "user with ip_allowed", "user with expiration".
type AllowedSubject struct {
	Type string
	// Relation is the subject relation of a subject set ("member" in group#member);
	// empty for plain objects and wildcards.
	Relation string
	Wildcard bool
	// Caveat names the caveat relationships of this kind must carry, if any.
	Caveat string
	// Expiration is set when relationships of this kind may carry an expiry.
	Expiration bool
}

// Expr is a permission expression node: *Union, *Intersection, *Exclusion, *Computed,
// *Arrow or *Nil.
type Expr interface{ isExpr() }

// Union is "a + b + ...": any child grants.
type Union struct{ Children []Expr }

// Intersection is "a & b & ...": every child must grant.
type Intersection struct{ Children []Expr }

// Exclusion is "base - subtract": base grants and subtract does not.
type Exclusion struct{ Base, Subtract Expr }

// Computed refers to another relation or permission on the same object.
type Computed struct {
	Relation string
	Pos      Position
}

// ArrowMode says how an arrow combines the objects its tupleset points at.
type ArrowMode int

// Arrow modes: "->" and ".any(...)" grant if any target grants; ".all(...)" only if
// there is at least one target and every target grants.
const (
	ArrowAny ArrowMode = iota
	ArrowAll
)

// Arrow is "tupleset->computed": follow the relation tupleset to its subjects and
// evaluate computed on each of them.
type Arrow struct {
	Tupleset string
	Computed string
	Mode     ArrowMode
	Pos      Position
}

// Nil is "nil": grants nothing.
type Nil struct{}

func (*Union) isExpr()        {}
func (*Intersection) isExpr() {}
func (*Exclusion) isExpr()    {}
func (*Computed) isExpr()     {}
func (*Arrow) isExpr()        {}
func (*Nil) isExpr()          {}

// Caveat is a named CEL condition with typed parameters.
type Caveat struct {
	Name       string
	Comment    string
	Parameters []caveat.Param
	Expression string
	Program    *caveat.Program
	Pos        Position
}

// GrantRule is Pemba's addition to the language: it says which permission authorises
// writing (creating, touching or deleting) a relation on behalf of an acting subject,
// and optionally how long such delegated grants may live.
//
//	grant member by manage
//	grant admin, billing_admin by manage & admin expiring within 90d
type GrantRule struct {
	// Relations are the relations the rule covers.
	Relations []string
	// Expr is evaluated on the resource of the update with the acting subject as the
	// subject; the update is allowed when it grants.
	Expr Expr
	// Permission is the name of the hidden permission the compiler synthesised from
	// Expr on the same definition, so the engine can check it like any permission.
	// It is not a valid identifier, so it can never clash with a user's name.
	Permission string
	// MaxLifetime bounds delegated grants: when non-zero, a delegated create or touch
	// must carry an expiry no later than commit time + MaxLifetime.
	MaxLifetime time.Duration
	// Dependencies are the rule's "while" conditions: a grant made under the rule
	// counts only while all of them hold (see Dependency). Empty for a rule without
	// `while`: its grants count until they expire or are deleted.
	Dependencies []Dependency
	// Text is the rule as written, for audit records and error messages.
	Text string
	Pos  Position
}

// DependencyKind says what a delegated grant depends on.
type DependencyKind int

// Dependency kinds.
const (
	// GranteeIn holds while the grantee is in Type#Relation on the object the grantor
	// held its right through (the grant's Via), which must be of Type.
	GranteeIn DependencyKind = iota + 1
	// GrantorCanGrant holds while the grantor still satisfies the rule's expression on
	// the grant's resource.
	GrantorCanGrant
)

// Dependency is one condition of a grant rule's "while" clause:
//
//	grant viewer by manage while grantee in organization#active_member and grantor can grant
type Dependency struct {
	Kind DependencyKind
	// Type and Relation name the relation or permission the grantee must stay in
	// (GranteeIn only), e.g. "organization" and "active_member".
	Type, Relation string
	Pos            Position
}

// String renders the condition as written in a schema.
func (d Dependency) String() string {
	if d.Kind == GrantorCanGrant {
		return "grantor can grant"
	}
	return "grantee in " + d.Type + "#" + d.Relation
}

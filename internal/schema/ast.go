package schema

import "time"

// The AST is the parsed form of one schema file, before names are resolved. Every node
// keeps its position so the compiler can point at the exact spot, and declarations keep
// the comments written before them.

// astFile is a parsed schema file.
type astFile struct {
	Uses        []*astUse
	Definitions []*astDefinition
	Caveats     []*astCaveat
	// Order lists definitions and caveats as written.
	Order []astTopLevel
	// Comments are all comments outside caveat bodies, in source order.
	Comments []comment
}

// astTopLevel is a *astDefinition or a *astCaveat.
type astTopLevel interface{ topLevel() }

func (*astDefinition) topLevel() {}
func (*astCaveat) topLevel()     {}

// astIdent is a name with its position.
type astIdent struct {
	Name string
	Pos  Position
}

// astUse is "use FLAG".
type astUse struct {
	Flag astIdent
	Pos  Position
}

// astDefinition is "definition NAME { ... }".
type astDefinition struct {
	Name     astIdent
	Pos      Position
	Comments []comment
	Members  []astMember
	// LBrace and RBrace are where the body opens and closes.
	LBrace, RBrace Position
}

// astMember is a *astRelation, *astPermission, *astGrant or *astApproval.
type astMember interface{ member() }

func (*astRelation) member()   {}
func (*astPermission) member() {}
func (*astGrant) member()      {}
func (*astApproval) member()   {}

// astRelation is "relation NAME: TYPE | TYPE ...".
type astRelation struct {
	Name     astIdent
	Pos      Position
	Comments []comment
	Types    []*astTypeRef
	Last     Position // the statement's last token
}

// astTypeRef is one allowed subject type: "user", "user:*", "group#member",
// "user with cav", "user with expiration", "user with cav and expiration".
type astTypeRef struct {
	Type       astIdent
	Relation   astIdent // empty Name when absent; "..." for an explicit ellipsis
	Wildcard   bool
	Caveat     astIdent
	Expiration bool
	ExpPos     Position
	Pos        Position
}

// astPermission is "permission NAME = EXPR".
type astPermission struct {
	Name     astIdent
	Pos      Position
	Comments []comment
	Expr     astExpr
	Last     Position // the statement's last token
}

// astGrant is Pemba's "grant REL, REL by EXPR [expiring within DURATION]".
type astGrant struct {
	Relations    []astIdent
	Expr         astExpr
	MaxLifetime  time.Duration
	LifetimeText string
	LifetimePos  Position
	Text         string
	Pos          Position
	Comments     []comment
	Last         Position // the statement's last token
	// Conditions are the "while" conditions; WhilePos is where `while` is.
	Conditions []*astCondition
	WhilePos   Position
}

// astApproval is Pemba's "approve REL[, REL] by PARTY [and PARTY...]
// [requester in TYPE#RELATION] [for at most DURATION]".
type astApproval struct {
	Relations []astIdent
	Parties   []*astParty
	// Requester is the "requester in" clause, or nil.
	Requester    *astCondition
	MaxDuration  time.Duration
	DurationText string
	DurationPos  Position
	Text         string
	Pos          Position
	Comments     []comment
	Last         Position // the statement's last token
}

// astParty is one party of an approval rule: EXPR, or EXPR on requester.
type astParty struct {
	Expr        astExpr
	OnRequester bool
	OnPos       Position
	Pos         Position
}

// astCondition is one condition of a grant rule's "while" clause.
type astCondition struct {
	Kind     DependencyKind
	Type     astIdent // GranteeIn only
	Relation astIdent // GranteeIn only
	Pos      Position
}

// astExpr is a permission expression node.
type astExpr interface{ exprPos() Position }

// astChain is "a OP b OP c ..." with OP one of + & -, kept flat so that a long
// chain does not make a deep tree; `-` chains are left-associative.
type astChain struct {
	Op       tokenKind
	Operands []astExpr
	Pos      Position // the first operator
}

// astRef names a relation or permission of the same definition.
type astRef struct{ astIdent }

// astArrow is "tupleset->target", "tupleset.any(target)" or "tupleset.all(target)".
type astArrow struct {
	Tupleset astIdent
	Target   astIdent
	Func     string // "->", "any" or "all"
	Pos      Position
}

// astNil is "nil".
type astNil struct{ Pos Position }

// astParen is a parenthesised expression; kept so positions and formatting know.
type astParen struct {
	Inner astExpr
	Pos   Position
}

func (e *astChain) exprPos() Position { return e.Pos }
func (e *astRef) exprPos() Position   { return e.Pos }
func (e *astArrow) exprPos() Position { return e.Pos }
func (e *astNil) exprPos() Position   { return e.Pos }
func (e *astParen) exprPos() Position { return e.Pos }

// astCaveat is "caveat NAME(PARAM TYPE, ...) { CEL }".
type astCaveat struct {
	Name     astIdent
	Pos      Position
	Comments []comment
	Params   []*astParam
	Expr     string
	ExprPos  Position
	Last     Position // the `}` closing the body
}

// astParam is one caveat parameter.
type astParam struct {
	Name astIdent
	Type string // as written, normalised: "int", "list<string>", "map<list<int>>"
	Pos  Position
	// TypePos points at the type.
	TypePos Position
}

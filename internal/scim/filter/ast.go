package filter

import (
	"strconv"
	"strings"
)

// Expr is a parsed filter: a *Compare, *Logical, *Not or *ValuePath.
type Expr interface {
	// String prints the expression in filter syntax; parsing the output gives back
	// an equal expression.
	String() string
	isExpr()
}

// AttrPath names an attribute: an optional schema URN, the attribute and an optional
// sub-attribute ("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").
type AttrPath struct {
	// URI is the schema URN the attribute is qualified with, or empty.
	URI string
	// Name is the attribute's name, as written (SCIM names are case-insensitive).
	Name string
	// Sub is the sub-attribute's name, or empty.
	Sub string
}

// String prints the path as written.
func (p AttrPath) String() string {
	var b strings.Builder
	if p.URI != "" {
		b.WriteString(p.URI)
		b.WriteByte(':')
	}
	b.WriteString(p.Name)
	if p.Sub != "" {
		b.WriteByte('.')
		b.WriteString(p.Sub)
	}
	return b.String()
}

// Op is a comparison operator.
type Op string

// The comparison operators of RFC 7644 §3.4.2.2.
const (
	OpEq      Op = "eq"
	OpNe      Op = "ne"
	OpCo      Op = "co"
	OpSw      Op = "sw"
	OpEw      Op = "ew"
	OpPr      Op = "pr"
	OpGt      Op = "gt"
	OpGe      Op = "ge"
	OpLt      Op = "lt"
	OpLe      Op = "le"
	opUnknown Op = ""
)

func parseOp(word string) Op {
	switch op := Op(strings.ToLower(word)); op {
	case OpEq, OpNe, OpCo, OpSw, OpEw, OpPr, OpGt, OpGe, OpLt, OpLe:
		return op
	}
	return opUnknown
}

// ValueKind says which field of a Value holds it.
type ValueKind int

// Kinds of comparison values.
const (
	KindString ValueKind = iota
	KindNumber
	KindBool
	KindNull
)

// Value is a comparison value: a JSON string, number, boolean or null.
type Value struct {
	Kind ValueKind
	Str  string  // KindString
	Num  float64 // KindNumber
	Bool bool    // KindBool
	// raw is the number as written, kept so String round-trips it exactly.
	raw string
}

// String prints the value as JSON.
func (v Value) String() string {
	switch v.Kind {
	case KindNumber:
		if v.raw != "" {
			return v.raw
		}
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	case KindNull:
		return "null"
	}
	return quote(v.Str)
}

// Compare is "attrPath op value", or "attrPath pr" (Value unused).
type Compare struct {
	Path  AttrPath
	Op    Op
	Value Value
}

// Logical is "Left and Right" or "Left or Right".
type Logical struct {
	And         bool
	Left, Right Expr
}

// Not is "not (X)".
type Not struct{ X Expr }

// ValuePath is "attr[filter]": the elements of a multi-valued attribute that match
// the filter, whose attribute paths name sub-attributes of the elements.
type ValuePath struct {
	Attr   AttrPath
	Filter Expr
}

func (*Compare) isExpr()   {}
func (*Logical) isExpr()   {}
func (*Not) isExpr()       {}
func (*ValuePath) isExpr() {}

// String prints the comparison.
func (c *Compare) String() string {
	if c.Op == OpPr {
		return c.Path.String() + " pr"
	}
	return c.Path.String() + " " + string(c.Op) + " " + c.Value.String()
}

// String prints the expression with both sides in parentheses, so precedence
// survives a round trip.
func (l *Logical) String() string {
	op := " or "
	if l.And {
		op = " and "
	}
	return "(" + l.Left.String() + ")" + op + "(" + l.Right.String() + ")"
}

// String prints the negation.
func (n *Not) String() string { return "not (" + n.X.String() + ")" }

// String prints the value path.
func (v *ValuePath) String() string { return v.Attr.String() + "[" + v.Filter.String() + "]" }

// Path is the target of a PATCH operation (RFC 7644 §3.5.2): an attribute, optionally
// narrowed to the elements of a multi-valued attribute that match Filter, and then
// optionally to a sub-attribute of those elements (`emails[type eq "work"].value`).
type Path struct {
	Attr AttrPath
	// Filter selects elements of the multi-valued attribute Attr, or is nil.
	Filter Expr
	// Sub is the sub-attribute after a filter ("value" in `emails[...].value`).
	Sub string
}

// String prints the path.
func (p Path) String() string {
	s := p.Attr.String()
	if p.Filter != nil {
		s += "[" + p.Filter.String() + "]"
	}
	if p.Sub != "" {
		s += "." + p.Sub
	}
	return s
}

// quote prints s as a JSON string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

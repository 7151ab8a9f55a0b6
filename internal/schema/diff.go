package schema

import (
	"slices"
	"strings"
)

// ChangeKind says whether something was added, removed or changed.
type ChangeKind int

// Change kinds.
const (
	Added ChangeKind = iota + 1
	Removed
	Changed
)

func (k ChangeKind) symbol() string {
	switch k {
	case Added:
		return "+"
	case Removed:
		return "-"
	}
	return "~"
}

// What a change is about.
const (
	WhatUseExpiration = "use expiration"
	WhatDefinition    = "definition"
	WhatRelation      = "relation"
	WhatPermission    = "permission"
	WhatSubjectType   = "subject type"
	WhatCaveat        = "caveat"
	WhatGrantRule     = "grant rule"
	// WhatGrantDependency is one "while" condition of a grant rule; Name is the
	// relation the rule covers.
	WhatGrantDependency = "grant dependency"
	// WhatApprovalRule is an approval rule; Name is the relation it covers.
	WhatApprovalRule = "approval rule"
)

// Change is one difference between two schemas.
type Change struct {
	Kind ChangeKind
	// What is one of the What* constants.
	What string
	// Definition is the owning definition, when the change is inside one.
	Definition string
	// Name is the definition, relation, permission or caveat name; for a subject type,
	// the relation it belongs to; for a grant rule, the relation it covers.
	Name string
	// Old and New are the changed thing as written in a schema (empty when it did not
	// exist on that side): a relation's type list, an expression, a caveat signature
	// and body, a subject type, a grant rule.
	Old, New string
}

// String renders the change as one line, e.g.
// "- subject type document#viewer: user:*" or
// "~ permission document#view: viewer + editor => viewer".
func (c Change) String() string {
	subject := c.Name
	if c.Definition != "" && c.What != WhatDefinition {
		subject = c.Definition + "#" + c.Name
	}
	var detail string
	switch c.Kind {
	case Added:
		detail = c.New
	case Removed:
		detail = c.Old
	default:
		detail = c.Old + " => " + c.New
	}
	line := c.Kind.symbol() + " " + c.What
	if subject != "" {
		line += " " + subject
	}
	if detail != "" {
		line += ": " + detail
	}
	return line
}

// Changeset is the structured list of changes from one schema to another, in a
// stable order (schema order of the new schema, removals where the old schema had
// them). Comments and positions are ignored. Diff returns it.
type Changeset struct {
	Changes []Change
}

// Empty reports whether the schemas are equivalent.
func (d *Changeset) Empty() bool { return d == nil || len(d.Changes) == 0 }

// String renders one change per line, or "no changes".
func (d *Changeset) String() string {
	if d.Empty() {
		return "no changes\n"
	}
	var b strings.Builder
	for _, c := range d.Changes {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Diff compares two compiled schemas. Either may be nil (an empty schema).
func Diff(old, new *Schema) *Changeset {
	old, new = orEmpty(old), orEmpty(new)
	d := &Changeset{}
	add := func(c Change) { d.Changes = append(d.Changes, c) }
	if old.UseExpiration != new.UseExpiration {
		k := Added
		if old.UseExpiration {
			k = Removed
		}
		add(Change{Kind: k, What: WhatUseExpiration})
	}
	for _, name := range unionOrder(old.Order, new.Order) {
		od, oc := old.Definitions[name], old.Caveats[name]
		nd, nc := new.Definitions[name], new.Caveats[name]
		switch {
		case od != nil && nd == nil:
			add(Change{Kind: Removed, What: WhatDefinition, Name: name})
		case od == nil && nd != nil:
			add(Change{Kind: Added, What: WhatDefinition, Name: name})
			diffDefinition(add, &Definition{Name: name, Relations: map[string]*Relation{}}, nd)
		case od != nil && nd != nil:
			diffDefinition(add, od, nd)
		}
		switch {
		case oc != nil && nc == nil:
			add(Change{Kind: Removed, What: WhatCaveat, Name: name, Old: caveatText(oc)})
		case oc == nil && nc != nil:
			add(Change{Kind: Added, What: WhatCaveat, Name: name, New: caveatText(nc)})
		case oc != nil && nc != nil && caveatText(oc) != caveatText(nc):
			add(Change{Kind: Changed, What: WhatCaveat, Name: name, Old: caveatText(oc), New: caveatText(nc)})
		}
	}
	return d
}

func orEmpty(s *Schema) *Schema {
	if s == nil {
		return &Schema{Definitions: map[string]*Definition{}, Caveats: map[string]*Caveat{}}
	}
	return s
}

// unionOrder lists the names of b in order, with names only in a inserted after the
// name that preceded them in a.
func unionOrder(a, b []string) []string {
	inB := map[string]bool{}
	for _, n := range b {
		inB[n] = true
	}
	out := append([]string(nil), b...)
	for i, n := range a {
		if inB[n] {
			continue
		}
		// Insert after the nearest earlier name of a that is present in out.
		at := 0
		for j := i - 1; j >= 0; j-- {
			if k := indexOf(out, a[j]); k >= 0 {
				at = k + 1
				break
			}
		}
		out = append(out[:at], append([]string{n}, out[at:]...)...)
		inB[n] = true
	}
	return out
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func caveatText(c *Caveat) string {
	params := make([]string, len(c.Parameters))
	for i, p := range c.Parameters {
		params[i] = p.Name + " " + p.Type
	}
	return "(" + strings.Join(params, ", ") + ") { " + strings.Join(strings.Fields(c.Expression), " ") + " }"
}

func typeList(r *Relation) string {
	parts := make([]string, len(r.AllowedSubjects))
	for i, a := range r.AllowedSubjects {
		parts[i] = a.String()
	}
	return strings.Join(parts, " | ")
}

func diffDefinition(add func(Change), od, nd *Definition) {
	def := nd.Name
	for _, name := range unionOrder(od.Order, nd.Order) {
		or, nr := od.Relations[name], nd.Relations[name]
		switch {
		case or != nil && nr == nil:
			if or.Kind == KindRelation {
				add(Change{Kind: Removed, What: WhatRelation, Definition: def, Name: name, Old: typeList(or)})
			} else {
				add(Change{Kind: Removed, What: WhatPermission, Definition: def, Name: name, Old: FormatExpr(or.Expr)})
			}
		case or == nil && nr != nil:
			if nr.Kind == KindRelation {
				add(Change{Kind: Added, What: WhatRelation, Definition: def, Name: name, New: typeList(nr)})
			} else {
				add(Change{Kind: Added, What: WhatPermission, Definition: def, Name: name, New: FormatExpr(nr.Expr)})
			}
		case or.Kind != nr.Kind:
			add(Change{Kind: Changed, What: WhatRelation, Definition: def, Name: name, Old: formatMember(or), New: formatMember(nr)})
		case or.Kind == KindPermission:
			if o, n := FormatExpr(or.Expr), FormatExpr(nr.Expr); o != n {
				add(Change{Kind: Changed, What: WhatPermission, Definition: def, Name: name, Old: o, New: n})
			}
		default:
			diffAllowed(add, def, name, or.AllowedSubjects, nr.AllowedSubjects)
		}
	}
	diffGrants(add, od, nd)
	diffApprovals(add, od, nd)
}

// diffApprovals compares approval rules per covered relation.
func diffApprovals(add func(Change), od, nd *Definition) {
	rules := func(d *Definition) (map[string]string, []string) {
		m := map[string]string{}
		var order []string
		for _, a := range d.Approvals {
			text := strings.TrimPrefix(FormatApproval(a), "approve "+strings.Join(a.Relations, ", ")+" ")
			for _, r := range a.Relations {
				m[r] = text
				order = append(order, r)
			}
		}
		return m, order
	}
	om, oOrder := rules(od)
	nm, nOrder := rules(nd)
	for _, r := range unionOrder(oOrder, nOrder) {
		o, hadOld := om[r]
		n, hasNew := nm[r]
		switch {
		case hadOld && !hasNew:
			add(Change{Kind: Removed, What: WhatApprovalRule, Definition: nd.Name, Name: r, Old: o})
		case !hadOld && hasNew:
			add(Change{Kind: Added, What: WhatApprovalRule, Definition: nd.Name, Name: r, New: n})
		case o != n:
			add(Change{Kind: Changed, What: WhatApprovalRule, Definition: nd.Name, Name: r, Old: o, New: n})
		}
	}
}

// diffGrants compares grant rules per covered relation: the rule (expression and
// lifetime), then each of its "while" conditions.
func diffGrants(add func(Change), od, nd *Definition) {
	def := nd.Name
	rules := func(d *Definition) (map[string]string, []string) {
		m := map[string]string{}
		var order []string
		for _, g := range d.Grants {
			text := strings.TrimPrefix(grantHead(g), "grant "+strings.Join(g.Relations, ", ")+" ")
			for _, r := range g.Relations {
				m[r] = text
				order = append(order, r)
			}
		}
		return m, order
	}
	og, oOrder := rules(od)
	ng, nOrder := rules(nd)
	for _, r := range unionOrder(oOrder, nOrder) {
		o, hadOld := og[r]
		n, hasNew := ng[r]
		switch {
		case hadOld && !hasNew:
			add(Change{Kind: Removed, What: WhatGrantRule, Definition: def, Name: r, Old: o})
		case !hadOld && hasNew:
			add(Change{Kind: Added, What: WhatGrantRule, Definition: def, Name: r, New: n})
		case o != n:
			add(Change{Kind: Changed, What: WhatGrantRule, Definition: def, Name: r, Old: o, New: n})
		}
		diffDependencies(add, def, r, od.Relations[r], nd.Relations[r])
	}
}

// diffDependencies reports the "while" conditions added to or removed from the rule
// covering relation rel.
func diffDependencies(add func(Change), def, rel string, or, nr *Relation) {
	deps := func(r *Relation) []string {
		if r == nil || r.Grant == nil {
			return nil
		}
		out := make([]string, len(r.Grant.Dependencies))
		for i, d := range r.Grant.Dependencies {
			out[i] = d.String()
		}
		return out
	}
	o, n := deps(or), deps(nr)
	for _, d := range o {
		if !slices.Contains(n, d) {
			add(Change{Kind: Removed, What: WhatGrantDependency, Definition: def, Name: rel, Old: d})
		}
	}
	for _, d := range n {
		if !slices.Contains(o, d) {
			add(Change{Kind: Added, What: WhatGrantDependency, Definition: def, Name: rel, New: d})
		}
	}
}

func diffAllowed(add func(Change), def, rel string, old, new []AllowedSubject) {
	has := func(list []AllowedSubject, a AllowedSubject) bool {
		for _, x := range list {
			if x == a {
				return true
			}
		}
		return false
	}
	for _, a := range old {
		if !has(new, a) {
			add(Change{Kind: Removed, What: WhatSubjectType, Definition: def, Name: rel, Old: a.String()})
		}
	}
	for _, a := range new {
		if !has(old, a) {
			add(Change{Kind: Added, What: WhatSubjectType, Definition: def, Name: rel, New: a.String()})
		}
	}
}

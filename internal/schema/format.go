package schema

import (
	"strings"
	"time"
)

// Format prints a compiled schema in the canonical form: `use expiration` first,
// then definitions and caveats in the order they were written, one blank line
// between them, members indented by a tab in their written order, grant rules at the
// end of their definition, and parentheses wherever two different operators meet so
// that precedence never has to be remembered. Every comment of the source the schema
// was compiled from is kept, next to the statement it was written by (see
// format_comments.go); a schema without source keeps its doc comments. Compiling the
// output gives the same model (positions, source text and grant rule text aside), and
// formatting the output again gives the same text.
func Format(s *Schema) string {
	var b strings.Builder
	n := notesFor(s.Source)
	first := true
	gap := func() {
		if !first {
			b.WriteString("\n")
		}
		first = false
	}
	if s.UseExpiration {
		gap()
		n.writeUse(&b)
	}
	for _, name := range s.Order {
		if d, ok := s.Definitions[name]; ok {
			gap()
			formatDefinition(&b, d, n)
		} else if c, ok := s.Caveats[name]; ok {
			gap()
			formatCaveat(&b, c, n)
		}
	}
	if n != nil {
		writeNotes(&b, "", n.tail, !first)
	}
	return b.String()
}

// writeUse writes `use expiration` with the comments of every `use` statement.
func (n *commentNotes) writeUse(b *strings.Builder) {
	if n == nil {
		b.WriteString("use expiration\n")
		return
	}
	trail := ""
	for i, k := range n.uses {
		n.writeLeading(b, "", Position{Line: k.Line, Col: k.Col}, i > 0)
		trail += n.trailText(k)
	}
	b.WriteString("use expiration" + trail + "\n")
}

func formatDefinition(b *strings.Builder, d *Definition, n *commentNotes) {
	if n == nil {
		writeDoc(b, "", d.Comment)
		b.WriteString("definition " + d.Name + " {")
		if len(d.Order) == 0 && len(d.Grants) == 0 && len(d.Approvals) == 0 {
			b.WriteString("}\n")
			return
		}
		b.WriteString("\n")
		for _, name := range d.Order {
			r := d.Relations[name]
			writeDoc(b, "\t", r.Comment)
			b.WriteString("\t" + formatMember(r) + "\n")
		}
		if len(d.Grants)+len(d.Approvals) > 0 && len(d.Order) > 0 {
			b.WriteString("\n")
		}
		for _, g := range d.Grants {
			b.WriteString("\t" + formatGrantStatement(g, "\t") + "\n")
		}
		for _, a := range d.Approvals {
			b.WriteString("\t" + formatApprovalStatement(a, "\t") + "\n")
		}
		b.WriteString("}\n")
		return
	}
	k := keyOf(d.Pos)
	header, closing := n.header[k], n.closing[k]
	if len(d.Order)+len(d.Grants)+len(d.Approvals) == 0 && len(header) == 0 && len(closing) == 0 {
		n.writeStmt(b, "", d.Pos, "definition "+d.Name+" {}", false)
		return
	}
	n.writeLeading(b, "", d.Pos, false)
	b.WriteString("definition " + d.Name + " {" + joinNotes(header) + "\n")
	for i, name := range d.Order {
		r := d.Relations[name]
		n.writeStmt(b, "\t", r.Pos, formatMember(r), i > 0)
	}
	if len(d.Grants)+len(d.Approvals) > 0 && len(d.Order) > 0 {
		b.WriteString("\n")
	}
	for i, g := range d.Grants {
		n.writeStmt(b, "\t", g.Pos, formatGrantStatement(g, "\t"), i > 0)
	}
	for i, a := range d.Approvals {
		n.writeStmt(b, "\t", a.Pos, formatApprovalStatement(a, "\t"), i+len(d.Grants) > 0)
	}
	writeNotes(b, "\t", closing, len(d.Order)+len(d.Grants)+len(d.Approvals) > 0)
	b.WriteString("}" + n.trailText(k) + "\n")
}

// formatMember renders one relation or permission line (without indentation).
func formatMember(r *Relation) string {
	if r.Kind == KindPermission {
		return "permission " + r.Name + " = " + FormatExpr(r.Expr)
	}
	parts := make([]string, len(r.AllowedSubjects))
	for i, a := range r.AllowedSubjects {
		parts[i] = a.String()
	}
	return "relation " + r.Name + ": " + strings.Join(parts, " | ")
}

// FormatGrant renders a grant rule in canonical form on one line, e.g.
// "grant admin, billing_admin by manage & admin expiring within 90d" or
// "grant viewer by manage while grantee in organization#member and grantor can grant".
func FormatGrant(g *GrantRule) string {
	if w := formatWhile(g); w != "" {
		return grantHead(g) + " " + w
	}
	return grantHead(g)
}

// grantHead is a grant rule without its "while" clause.
func grantHead(g *GrantRule) string {
	s := "grant " + strings.Join(g.Relations, ", ") + " by " + FormatExpr(g.Expr)
	if g.MaxLifetime > 0 {
		s += " expiring within " + FormatLifetime(g.MaxLifetime)
	}
	return s
}

// formatWhile renders the "while" clause of a rule, or "" when it has none.
func formatWhile(g *GrantRule) string {
	if len(g.Dependencies) == 0 {
		return ""
	}
	conds := make([]string, len(g.Dependencies))
	for i, d := range g.Dependencies {
		conds[i] = d.String()
	}
	return "while " + strings.Join(conds, " and ")
}

// formatGrantStatement is a grant rule as a schema file writes it: the "while" clause
// on a continuation line, indented one step further than the rule.
func formatGrantStatement(g *GrantRule, indent string) string {
	if w := formatWhile(g); w != "" {
		return grantHead(g) + "\n" + indent + "\t" + w
	}
	return grantHead(g)
}

// FormatApproval renders an approval rule in canonical form on one line, e.g.
// "approve viewer by manage and manage on requester for at most 90d requester in
// organization#member".
func FormatApproval(a *ApprovalRule) string {
	if a.Requester != nil {
		return approvalHead(a) + " " + requesterText(a.Requester)
	}
	return approvalHead(a)
}

// approvalHead is an approval rule without its "requester in" clause.
func approvalHead(a *ApprovalRule) string {
	parties := make([]string, len(a.Parties))
	for i, p := range a.Parties {
		parties[i] = FormatExpr(p.Expr)
		if p.On == OnRequester {
			parties[i] += " on requester"
		}
	}
	s := "approve " + strings.Join(a.Relations, ", ") + " by " + strings.Join(parties, " and ")
	if a.MaxDuration > 0 {
		s += " for at most " + FormatLifetime(a.MaxDuration)
	}
	return s
}

func requesterText(r *RequesterBinding) string {
	return "requester in " + r.Type + "#" + r.Relation
}

// formatApprovalStatement is an approval rule as a schema file writes it: the
// "requester in" clause on a continuation line.
func formatApprovalStatement(a *ApprovalRule, indent string) string {
	if a.Requester != nil {
		return approvalHead(a) + "\n" + indent + "\t" + requesterText(a.Requester)
	}
	return approvalHead(a)
}

// FormatLifetime writes a grant lifetime with the units of the grant syntax: whole
// weeks as "2w", otherwise days, hours, minutes and seconds, e.g. "90d" or "1d12h".
func FormatLifetime(d time.Duration) string {
	const day, week = 24 * time.Hour, 7 * 24 * time.Hour
	if d <= 0 {
		return "0s"
	}
	if d%week == 0 {
		return itoa(int64(d/week)) + "w"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(itoa(int64(n)) + u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

// FormatExpr renders a permission expression. Nested operators of a different kind
// are parenthesised, so the text reads the same under any precedence rules.
func FormatExpr(e Expr) string {
	switch e := e.(type) {
	case *Union:
		return joinExpr(e.Children, " + ", func(c Expr) bool { return isCompound(c) })
	case *Intersection:
		return joinExpr(e.Children, " & ", func(c Expr) bool { return isCompound(c) })
	case *Exclusion:
		base := FormatExpr(e.Base)
		if _, ok := e.Base.(*Exclusion); !ok && isCompound(e.Base) {
			base = "(" + base + ")"
		}
		sub := FormatExpr(e.Subtract)
		if isCompound(e.Subtract) {
			sub = "(" + sub + ")"
		}
		return base + " - " + sub
	case *Computed:
		return e.Relation
	case *Arrow:
		if e.Mode == ArrowAll {
			return e.Tupleset + ".all(" + e.Computed + ")"
		}
		return e.Tupleset + "->" + e.Computed
	case *Nil:
		return "nil"
	}
	return "nil"
}

func joinExpr(children []Expr, sep string, paren func(Expr) bool) string {
	parts := make([]string, len(children))
	for i, c := range children {
		parts[i] = FormatExpr(c)
		if paren(c) {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, sep)
}

func isCompound(e Expr) bool {
	switch e.(type) {
	case *Union, *Intersection, *Exclusion:
		return true
	}
	return false
}

func formatCaveat(b *strings.Builder, c *Caveat, n *commentNotes) {
	var head strings.Builder
	head.WriteString("caveat " + c.Name + "(")
	for i, p := range c.Parameters {
		if i > 0 {
			head.WriteString(", ")
		}
		head.WriteString(p.Name + " " + p.Type)
	}
	head.WriteString(") {\n\t" + c.Expression + "\n}")
	if n == nil {
		writeDoc(b, "", c.Comment)
		b.WriteString(head.String() + "\n")
		return
	}
	n.writeStmt(b, "", c.Pos, head.String(), false)
}

// writeDoc writes a doc comment: one line as /** text */, several lines as a block
// with " * " prefixes.
func writeDoc(b *strings.Builder, indent, text string) {
	if text == "" {
		return
	}
	text = strings.ReplaceAll(text, "*/", "* /")
	lines := strings.Split(text, "\n")
	if len(lines) == 1 && !strings.HasPrefix(lines[0], "*") && strings.TrimSpace(text) == text {
		b.WriteString(indent + "/** " + text + " */\n")
		return
	}
	b.WriteString(indent + "/**\n")
	for _, l := range lines {
		if l == "" {
			b.WriteString(indent + " *\n")
		} else {
			b.WriteString(indent + " * " + l + "\n")
		}
	}
	b.WriteString(indent + " */\n")
}

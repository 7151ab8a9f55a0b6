package schema

import (
	"strings"
	"time"
)

// Format prints a compiled schema in the canonical form: `use expiration` first,
// then definitions and caveats in the order they were written, one blank line
// between them, members indented by a tab in their written order, grant rules at the
// end of their definition, doc comments kept, and parentheses wherever two different
// operators meet so that precedence never has to be remembered. Compiling the output
// gives the same model (positions, source text and grant rule text aside).
func Format(s *Schema) string {
	var b strings.Builder
	first := true
	gap := func() {
		if !first {
			b.WriteString("\n")
		}
		first = false
	}
	if s.UseExpiration {
		gap()
		b.WriteString("use expiration\n")
	}
	for _, name := range s.Order {
		if d, ok := s.Definitions[name]; ok {
			gap()
			formatDefinition(&b, d)
		} else if c, ok := s.Caveats[name]; ok {
			gap()
			formatCaveat(&b, c)
		}
	}
	return b.String()
}

func formatDefinition(b *strings.Builder, d *Definition) {
	writeDoc(b, "", d.Comment)
	b.WriteString("definition " + d.Name + " {")
	if len(d.Order) == 0 && len(d.Grants) == 0 {
		b.WriteString("}\n")
		return
	}
	b.WriteString("\n")
	for _, n := range d.Order {
		r := d.Relations[n]
		writeDoc(b, "\t", r.Comment)
		b.WriteString("\t" + formatMember(r) + "\n")
	}
	if len(d.Grants) > 0 && len(d.Order) > 0 {
		b.WriteString("\n")
	}
	for _, g := range d.Grants {
		b.WriteString("\t" + FormatGrant(g) + "\n")
	}
	b.WriteString("}\n")
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

// FormatGrant renders a grant rule in canonical form, e.g.
// "grant admin, billing_admin by manage & admin expiring within 90d".
func FormatGrant(g *GrantRule) string {
	s := "grant " + strings.Join(g.Relations, ", ") + " by " + FormatExpr(g.Expr)
	if g.MaxLifetime > 0 {
		s += " expiring within " + FormatLifetime(g.MaxLifetime)
	}
	return s
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

func formatCaveat(b *strings.Builder, c *Caveat) {
	writeDoc(b, "", c.Comment)
	b.WriteString("caveat " + c.Name + "(")
	for i, p := range c.Parameters {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name + " " + p.Type)
	}
	b.WriteString(") {\n\t" + c.Expression + "\n}\n")
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

package schema

import (
	"strings"
	"unicode"
)

// The formatter prints the compiled model, so comments, which the model does not hold
// (doc comments aside), are read again from the source and tied to the statements
// they sit next to. Every comment outside a caveat body lands in exactly one place:
//
//   - before a statement (definition, caveat, `use`, relation, permission, grant rule):
//     printed on its own lines before it, at its indentation;
//   - after a statement on its last line: printed after it on the same line;
//   - after the `{` of a definition on the same line: printed after the `{`;
//   - before the `}` of a definition, or at the end of the file: printed there;
//   - inside a statement (between the tokens of an expression, say): printed before
//     the statement, since the canonical form writes a statement on one line. A doc
//     comment (`/** */`) moved so loses its second `*`: it documented nothing where it
//     was, and must not start documenting the statement.
//
// A comment written after a statement but shaped like a doc comment, or spanning
// several lines, is placed before the next statement instead, because that is what
// it documents. Blank lines before statements and comments are kept (at most one);
// a grant or approval rule keeps its comments when the canonical form moves it to
// the end of its definition.

// lineCol is a position without its file name: model positions carry the name given
// to Compile, the formatter's own parse does not.
type lineCol struct{ Line, Col int }

func keyOf(p Position) lineCol { return lineCol{p.Line, p.Col} }

// before reports whether a comes before b in the source.
func before(a, b Position) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
}

// note is one comment as the formatter prints it.
type note struct {
	Text string
	// Blank says a blank line came before the comment in the source.
	Blank bool
	// Hoisted says the comment was written inside the statement it now precedes.
	Hoisted bool
	Pos     Position
	// Indent is the space that starts the source line the comment starts on; the
	// continuation lines of a block comment are re-indented relative to it.
	Indent string
}

// commentNotes holds every comment of a source, keyed by the statement it belongs to
// (the position the statement starts at).
type commentNotes struct {
	lines    []string
	leading  map[lineCol][]note
	trailing map[lineCol][]note
	header   map[lineCol][]note // definitions: after `{` on its line
	closing  map[lineCol][]note // definitions: before `}`
	uses     []lineCol
	tail     []note
}

// span is one statement: where it starts and where its last token starts.
type span struct {
	start, last Position
	def         *astDefinition
}

// notesFor parses src again and ties its comments to statements. It returns nil when
// there is no source, so that Format falls back to the doc comments of the model.
func notesFor(src string) *commentNotes {
	if src == "" {
		return nil
	}
	diag := newDiagnostics("", src)
	f := parse("", src, diag)
	if len(diag.errs) > 0 {
		return nil
	}
	n := &commentNotes{
		lines:    strings.Split(src, "\n"),
		leading:  map[lineCol][]note{},
		trailing: map[lineCol][]note{},
		header:   map[lineCol][]note{},
		closing:  map[lineCol][]note{},
	}
	var items []span
	for _, u := range f.Uses {
		items = append(items, span{start: u.Pos, last: u.Flag.Pos})
		n.uses = append(n.uses, keyOf(u.Pos))
	}
	for _, it := range f.Order {
		switch it := it.(type) {
		case *astDefinition:
			items = append(items, span{start: it.Pos, last: it.RBrace, def: it})
		case *astCaveat:
			items = append(items, span{start: it.Pos, last: it.Last})
		}
	}
	sortSpans(items)
	bodies := map[*astDefinition][]comment{}
	n.place(items, f.Comments, &n.tail, bodies)
	for _, it := range items {
		if it.def != nil {
			n.placeBody(it.def, bodies[it.def])
		}
	}
	return n
}

func sortSpans(items []span) {
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && before(items[j].start, items[j-1].start); j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
}

// place ties comments to a sequence of statements in source order. Comments after
// the last statement go to tail; comments inside a definition's body go to bodies.
func (n *commentNotes) place(items []span, cs []comment, tail *[]note, bodies map[*astDefinition][]comment) {
	i := 0
	trailOpen := false // the statement before the comment may still take trailing comments
	for _, c := range cs {
		for i < len(items) && before(items[i].last, c.Pos) {
			i++
			trailOpen = true
		}
		if i < len(items) && before(items[i].start, c.Pos) {
			it := items[i]
			if it.def != nil && before(it.def.LBrace, c.Pos) {
				bodies[it.def] = append(bodies[it.def], c)
				continue
			}
			k := keyOf(it.start)
			n.leading[k] = append(n.leading[k], n.noteOf(c, true))
			continue
		}
		if trailOpen && i > 0 && c.Pos.Line == items[i-1].last.Line && trailable(c) {
			k := keyOf(items[i-1].start)
			n.trailing[k] = append(n.trailing[k], n.noteOf(c, false))
			continue
		}
		trailOpen = false
		nt := n.noteOf(c, false)
		if i < len(items) {
			k := keyOf(items[i].start)
			n.leading[k] = append(n.leading[k], nt)
		} else {
			*tail = append(*tail, nt)
		}
	}
}

// placeBody ties the comments inside a definition's braces to its members.
func (n *commentNotes) placeBody(d *astDefinition, cs []comment) {
	items := make([]span, 0, len(d.Members))
	for _, m := range d.Members {
		switch m := m.(type) {
		case *astRelation:
			items = append(items, span{start: m.Pos, last: m.Last})
		case *astPermission:
			items = append(items, span{start: m.Pos, last: m.Last})
		case *astGrant:
			items = append(items, span{start: m.Pos, last: m.Last})
		case *astApproval:
			items = append(items, span{start: m.Pos, last: m.Last})
		}
	}
	k := keyOf(d.Pos)
	for len(cs) > 0 && cs[0].Pos.Line == d.LBrace.Line && trailable(cs[0]) &&
		(len(items) == 0 || before(cs[0].Pos, items[0].start)) {
		n.header[k] = append(n.header[k], n.noteOf(cs[0], false))
		cs = cs[1:]
	}
	var closing []note
	n.place(items, cs, &closing, nil)
	if len(closing) > 0 {
		n.closing[k] = closing
	}
}

// noteOf makes the note for comment c; hoisted marks one written inside a statement.
func (n *commentNotes) noteOf(c comment, hoisted bool) note {
	nt := note{Text: c.Text, Pos: c.Pos, Hoisted: hoisted}
	if c.Pos.Line >= 1 && c.Pos.Line <= len(n.lines) {
		l := n.lines[c.Pos.Line-1]
		nt.Indent = l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	}
	if hoisted && c.isDoc() {
		nt.Text = "/*" + strings.TrimPrefix(nt.Text, "/**")
	}
	if !hoisted {
		nt.Blank = n.blankBefore(c.Pos)
	}
	return nt
}

// trailable reports whether a comment may stay on the line of the statement before
// it: one line, and not a doc comment (which documents what follows).
func trailable(c comment) bool {
	return !strings.Contains(c.Text, "\n") && !c.isDoc()
}

// blankBefore reports whether the source has a blank line just before p: nothing but
// space precedes p on its line, and the line above is empty.
func (n *commentNotes) blankBefore(p Position) bool {
	if p.Line < 2 || p.Line > len(n.lines) {
		return false
	}
	line := []rune(n.lines[p.Line-1])
	if p.Col-1 > len(line) || strings.TrimFunc(string(line[:p.Col-1]), unicode.IsSpace) != "" {
		return false
	}
	return strings.TrimFunc(n.lines[p.Line-2], unicode.IsSpace) == ""
}

// writeStmt writes a statement with its comments: those before it on their own lines,
// those after it on its line. mayBlank says whether a blank line may come first.
func (n *commentNotes) writeStmt(b *strings.Builder, indent string, at Position, text string, mayBlank bool) {
	n.writeLeading(b, indent, at, mayBlank)
	b.WriteString(indent + text + n.trailText(keyOf(at)) + "\n")
}

// writeLeading writes the comments before the statement at at, and the blank line
// before the statement itself.
func (n *commentNotes) writeLeading(b *strings.Builder, indent string, at Position, mayBlank bool) {
	k := keyOf(at)
	lead := n.leading[k]
	wrote := false
	for _, nt := range lead {
		if nt.Hoisted {
			continue
		}
		if nt.Blank && (wrote || mayBlank) {
			b.WriteString("\n")
		}
		writeComment(b, indent, nt)
		wrote = true
	}
	if n.blankBefore(at) && (wrote || mayBlank) {
		b.WriteString("\n")
	}
	for _, nt := range lead {
		if nt.Hoisted {
			writeComment(b, indent, nt)
		}
	}
}

// writeNotes writes comments on their own lines (closing comments of a block, the
// end of the file).
func writeNotes(b *strings.Builder, indent string, ns []note, mayBlank bool) {
	for i, nt := range ns {
		if nt.Blank && (i > 0 || mayBlank) {
			b.WriteString("\n")
		}
		writeComment(b, indent, nt)
	}
}

// trailText is the trailing comments of the statement at k, with a leading space.
func (n *commentNotes) trailText(k lineCol) string {
	return joinNotes(n.trailing[k])
}

func joinNotes(ns []note) string {
	var s string
	for _, nt := range ns {
		s += " " + strings.TrimRightFunc(nt.Text, unicode.IsSpace)
	}
	return s
}

// writeComment writes one comment at indent. The continuation lines of a block
// comment keep their indentation relative to the line the comment started on; lines
// starting with `*` line up under the first line's `*`.
func writeComment(b *strings.Builder, indent string, nt note) {
	lines := strings.Split(nt.Text, "\n")
	b.WriteString(indent + strings.TrimRightFunc(lines[0], unicode.IsSpace) + "\n")
	for _, l := range lines[1:] {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		t := strings.TrimLeft(l, " \t")
		switch {
		case t == "":
			b.WriteString("\n")
		case strings.HasPrefix(t, "*"):
			b.WriteString(indent + " " + t + "\n")
		default:
			b.WriteString(indent + strings.TrimPrefix(l, nt.Indent) + "\n")
		}
	}
}

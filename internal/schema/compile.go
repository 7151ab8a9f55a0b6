package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pemba-authz/pemba/internal/caveat"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// reservedWords cannot name a definition, relation, permission or caveat: they are
// keywords of the language.
var reservedWords = map[string]bool{
	"definition": true, "caveat": true, "relation": true, "permission": true,
	"nil": true, "with": true,
}

// GrantPermissionPrefix starts the name of every permission the compiler makes for a
// grant rule. The ":" makes it an invalid identifier, so it never clashes with a
// user's name and cannot be referenced from a schema.
const GrantPermissionPrefix = "grant:"

// Compile parses and checks a schema source and returns its typed model. file names
// the source in error positions. On failure the error is an ErrorList with every
// problem found, each rendered as "file:line:col: message" with the source line and
// a caret.
func Compile(file, text string) (*Schema, error) {
	if len(text) > MaxSourceBytes {
		return nil, ErrorList{{Pos: Position{File: file, Line: 1, Col: 1},
			Message: fmt.Sprintf("schema is %d bytes; the limit is %d bytes (1 MiB)", len(text), MaxSourceBytes)}}
	}
	diag := newDiagnostics(file, text)
	if !utf8.ValidString(text) {
		line, col := 1, 1
		for i, r := range text {
			if r == utf8.RuneError {
				if _, n := utf8.DecodeRuneInString(text[i:]); n == 1 {
					break
				}
			}
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		diag.add(Position{Line: line, Col: col}, "schema is not valid UTF-8")
		return nil, diag.result()
	}
	f := parse(file, text, diag)
	c := &compiler{diag: diag, file: file, s: &Schema{
		Definitions: map[string]*Definition{},
		Caveats:     map[string]*Caveat{},
		Source:      text,
	}}
	c.compile(f)
	if err := diag.result(); err != nil {
		return nil, err
	}
	return c.s, nil
}

type compiler struct {
	diag *diagnostics
	file string
	s    *Schema
	// astDefs keeps each definition's AST for the checks that need positions.
	astDefs map[string]*astDefinition
	// wildcardMemo caches wildcardVia lookups.
	wildcardMemo map[string]*wildcardRef
	// astRelations indexes each definition's relation ASTs by name.
	astRelations map[string]map[string]*astRelation
	// pendingDeps are the grant rules with "while" conditions, checked last.
	pendingDeps []pendingDeps
	// pendingApprovals are the approval rules, compiled after every grant rule.
	pendingApprovals []pendingApproval
}

// suggest is the package suggest, skipped once no more errors will be shown so that a
// huge broken input does not pay for suggestions nobody sees.
func (c *compiler) suggest(name string, candidates []string) string {
	if len(c.diag.errs) >= maxErrors {
		return ""
	}
	return suggest(name, candidates)
}

// astRelation returns the AST of relation def#name (the first one, if duplicated).
func (c *compiler) astRelation(def, name string) *astRelation {
	if c.astRelations == nil {
		c.astRelations = map[string]map[string]*astRelation{}
		for dn, ad := range c.astDefs {
			m := map[string]*astRelation{}
			for _, mem := range ad.Members {
				if ar, ok := mem.(*astRelation); ok {
					if _, dup := m[ar.Name.Name]; !dup {
						m[ar.Name.Name] = ar
					}
				}
			}
			c.astRelations[dn] = m
		}
	}
	return c.astRelations[def][name]
}

func (c *compiler) pos(p Position) Position {
	p.File = c.file
	return p
}

func (c *compiler) compile(f *astFile) {
	for _, u := range f.Uses {
		switch u.Flag.Name {
		case "expiration":
			c.s.UseExpiration = true
		case "self":
			c.diag.add(u.Flag.Pos, "`use self` is not supported by Pemba: write the subject relation explicitly (see docs/schema.md, divergences)")
		default:
			c.diag.add(u.Flag.Pos, "unknown feature `%s` in `use`%s (supported: expiration)", u.Flag.Name, c.suggest(u.Flag.Name, []string{"expiration"}))
		}
	}

	// Declare every definition and caveat first, so references can point forward.
	declared := map[string]Position{}
	declare := func(kind string, id astIdent) bool {
		if prev, dup := declared[id.Name]; dup {
			c.diag.add(id.Pos, "%s `%s` is declared twice (first at line %d); definitions and caveats share one namespace", kind, id.Name, prev.Line)
			return false
		}
		declared[id.Name] = id.Pos
		return true
	}
	c.astDefs = map[string]*astDefinition{}
	var caveats []*astCaveat
	for _, item := range f.Order {
		switch n := item.(type) {
		case *astDefinition:
			c.checkTypeName("definition", n.Name)
			if !declare("definition", n.Name) {
				continue
			}
			c.astDefs[n.Name.Name] = n
			d := &Definition{Name: n.Name.Name, Comment: docComment(n.Comments), Relations: map[string]*Relation{}, Pos: c.pos(n.Pos)}
			c.s.Definitions[d.Name] = d
			c.s.Order = append(c.s.Order, d.Name)
		case *astCaveat:
			if err := tuple.ValidateCaveatName("caveat name", n.Name.Name); err != nil {
				c.diag.add(n.Name.Pos, "invalid caveat name `%s`: %s", n.Name.Name, reason(err))
			} else if reservedWords[n.Name.Name] {
				c.diag.add(n.Name.Pos, "`%s` is a reserved word and cannot name a caveat", n.Name.Name)
			}
			if !declare("caveat", n.Name) {
				continue
			}
			cv := &Caveat{Name: n.Name.Name, Comment: docComment(n.Comments), Expression: n.Expr, Pos: c.pos(n.Pos)}
			for _, p := range n.Params {
				cv.Parameters = append(cv.Parameters, caveat.Param{Name: p.Name.Name, Type: p.Type})
			}
			c.s.Caveats[cv.Name] = cv
			c.s.Order = append(c.s.Order, cv.Name)
			caveats = append(caveats, n)
		}
	}

	// Members: names, kinds and duplicates, before any reference is resolved.
	for _, name := range c.definitionNames() {
		c.declareMembers(c.s.Definitions[name], c.astDefs[name])
	}
	for _, name := range c.definitionNames() {
		c.resolveDefinition(c.s.Definitions[name], c.astDefs[name])
	}
	for _, pd := range c.pendingDeps {
		c.dependencies(pd)
	}
	for _, pa := range c.pendingApprovals {
		c.approval(pa.d, pa.ast)
	}
	for _, name := range c.definitionNames() {
		c.checkCycles(c.s.Definitions[name])
	}
	for _, n := range caveats {
		c.compileCaveat(n)
	}
}

// definitionNames lists the declared definitions in source order.
func (c *compiler) definitionNames() []string {
	out := make([]string, 0, len(c.s.Definitions))
	for _, n := range c.s.Order {
		if _, ok := c.s.Definitions[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// reason extracts the "why" from a tuple validation error.
func reason(err error) string {
	var ve *tuple.ValidationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return err.Error()
}

func (c *compiler) checkTypeName(kind string, id astIdent) {
	if tuple.IsIdentifier(id.Name) && !reservedWords[id.Name] {
		return
	}
	if err := tuple.ValidateTypeName(kind+" name", id.Name); err != nil {
		c.diag.add(id.Pos, "invalid %s name `%s`: %s", kind, id.Name, reason(err))
		return
	}
	for seg := range strings.SplitSeq(id.Name, "/") {
		if reservedWords[seg] {
			c.diag.add(id.Pos, "`%s` is a reserved word and cannot name a %s", seg, kind)
		}
	}
}

func (c *compiler) checkMemberName(kind string, id astIdent) {
	if tuple.IsIdentifier(id.Name) && !reservedWords[id.Name] {
		return
	}
	if err := tuple.ValidateRelationName(kind+" name", id.Name); err != nil {
		c.diag.add(id.Pos, "invalid %s name `%s`: %s", kind, id.Name, reason(err))
		return
	}
	if reservedWords[id.Name] {
		c.diag.add(id.Pos, "`%s` is a reserved word and cannot name a %s", id.Name, kind)
	}
}

// docComment extracts the text of the doc comments (/** ... */) written before a
// declaration, without markers and leading asterisks; several are joined by newlines.
func docComment(cs []comment) string {
	var parts []string
	for _, cm := range cs {
		if !cm.isDoc() {
			continue
		}
		body := strings.TrimSuffix(strings.TrimPrefix(cm.Text, "/**"), "*/")
		lines := strings.Split(body, "\n")
		var kept []string
		for _, l := range lines {
			l = strings.TrimSpace(strings.TrimRight(l, "\r"))
			l = strings.TrimPrefix(l, "*")
			l = strings.TrimPrefix(l, " ")
			kept = append(kept, strings.TrimRight(l, " \t"))
		}
		for len(kept) > 0 && kept[0] == "" {
			kept = kept[1:]
		}
		for len(kept) > 0 && kept[len(kept)-1] == "" {
			kept = kept[:len(kept)-1]
		}
		if len(kept) > 0 {
			parts = append(parts, strings.Join(kept, "\n"))
		}
	}
	return strings.Join(parts, "\n")
}

func (c *compiler) declareMembers(d *Definition, ad *astDefinition) {
	first := map[string]Position{}
	for _, m := range ad.Members {
		var id astIdent
		var r *Relation
		switch m := m.(type) {
		case *astRelation:
			id = m.Name
			c.checkMemberName("relation", id)
			r = &Relation{Name: id.Name, Kind: KindRelation, Definition: d.Name, Comment: docComment(m.Comments), Pos: c.pos(m.Pos)}
		case *astPermission:
			id = m.Name
			c.checkMemberName("permission", id)
			r = &Relation{Name: id.Name, Kind: KindPermission, Definition: d.Name, Comment: docComment(m.Comments), Pos: c.pos(m.Pos)}
		default:
			continue
		}
		if prev, dup := first[id.Name]; dup {
			c.diag.add(id.Pos, "`%s` is declared twice in definition `%s` (first at line %d); relations and permissions share one namespace", id.Name, d.Name, prev.Line)
			continue
		}
		first[id.Name] = id.Pos
		d.Relations[id.Name] = r
		d.Order = append(d.Order, id.Name)
	}
}

func (c *compiler) resolveDefinition(d *Definition, ad *astDefinition) {
	for _, m := range ad.Members {
		if m, ok := m.(*astRelation); ok {
			r := d.Relations[m.Name.Name]
			if r == nil || r.Pos != c.pos(m.Pos) {
				continue // a duplicate, already reported
			}
			c.resolveRelation(d, r, m)
		}
	}
	for _, m := range ad.Members {
		switch m := m.(type) {
		case *astPermission:
			r := d.Relations[m.Name.Name]
			if r == nil || r.Pos != c.pos(m.Pos) {
				continue
			}
			r.Expr = c.expr(d, "permission `"+r.Name+"`", m.Expr)
		case *astGrant:
			c.grant(d, m)
		case *astApproval:
			c.pendingApprovals = append(c.pendingApprovals, pendingApproval{d: d, ast: m})
		}
	}
}

// allowedText renders an allowed subject type as written in a schema.
func allowedText(a AllowedSubject) string {
	s := a.Type
	switch {
	case a.Wildcard:
		s += ":*"
	case a.Relation != "":
		s += "#" + a.Relation
	}
	switch {
	case a.Caveat != "" && a.Expiration:
		s += " with " + a.Caveat + " and expiration"
	case a.Caveat != "":
		s += " with " + a.Caveat
	case a.Expiration:
		s += " with expiration"
	}
	return s
}

func (c *compiler) resolveRelation(d *Definition, r *Relation, m *astRelation) {
	r.AllowedSubjects = make([]AllowedSubject, 0, len(m.Types))
	for _, t := range m.Types {
		a := AllowedSubject{Type: t.Type.Name, Wildcard: t.Wildcard, Expiration: t.Expiration}
		if t.Relation.Name != "" && t.Relation.Name != tuple.Ellipsis {
			a.Relation = t.Relation.Name
		}
		if t.Caveat.Name != "" {
			a.Caveat = t.Caveat.Name
		}
		// Without `use expiration`, `with expiration` may name a caveat called expiration.
		if a.Expiration && a.Caveat == "" && !c.s.UseExpiration {
			if _, isCaveat := c.s.Caveats["expiration"]; isCaveat {
				a.Expiration, a.Caveat = false, "expiration"
			} else {
				c.diag.add(t.ExpPos, "relation `%s` allows `with expiration`, but the schema does not say `use expiration`: add `use expiration` at the top of the file", r.Name)
			}
		}
		if a.Expiration && a.Caveat != "" && !c.s.UseExpiration {
			c.diag.add(t.ExpPos, "relation `%s` allows `and expiration`, but the schema does not say `use expiration`: add `use expiration` at the top of the file", r.Name)
		}
		target, ok := c.s.Definitions[a.Type]
		if !ok {
			c.diag.add(t.Type.Pos, "definition `%s` not found (used by relation `%s`)%s", a.Type, r.Name, c.suggest(a.Type, c.definitionNames()))
		} else if a.Relation != "" {
			if _, ok := target.Relations[a.Relation]; !ok {
				c.diag.add(t.Relation.Pos, "relation `%s` not found on definition `%s`%s", a.Relation, a.Type, c.suggest(a.Relation, target.Order))
			}
		}
		if a.Caveat != "" {
			if _, ok := c.s.Caveats[a.Caveat]; !ok {
				c.diag.add(t.Caveat.Pos, "caveat `%s` not found (used by relation `%s`)%s", a.Caveat, r.Name, c.suggest(a.Caveat, c.caveatNames()))
			}
		}
		if slices.Contains(r.AllowedSubjects, a) {
			c.diag.add(t.Pos, "subject type `%s` is listed twice on relation `%s`", allowedText(a), r.Name)
			continue
		}
		r.AllowedSubjects = append(r.AllowedSubjects, a)
	}
	// A subject relation that itself allows a wildcard would make the wildcard
	// transitive; the established language forbids it.
	for i, a := range r.AllowedSubjects {
		if a.Relation == "" {
			continue
		}
		if w := c.wildcardVia(a.Type, a.Relation, nil); w != nil {
			pos := c.pos(m.Pos)
			if i < len(m.Types) {
				pos = m.Types[i].Pos
			}
			c.diag.add(pos, "relation `%s` allows `%s#%s`, which includes wildcard `%s:*` via `%s#%s`: wildcards cannot be included through a subject relation",
				r.Name, a.Type, a.Relation, w.Type, w.Def, w.Relation)
		}
	}
}

func (c *compiler) caveatNames() []string {
	out := make([]string, 0, len(c.s.Caveats))
	for _, n := range c.s.Order {
		if _, ok := c.s.Caveats[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// wildcardRef says where a wildcard comes from.
type wildcardRef struct{ Def, Relation, Type string }

// wildcardVia reports whether relation def#rel allows a wildcard, directly or through
// the subject relations it allows. Only relations (not permissions) are followed.
func (c *compiler) wildcardVia(def, rel string, visiting map[string]bool) *wildcardRef {
	key := def + "#" + rel
	if w, ok := c.wildcardMemo[key]; ok {
		return w
	}
	if visiting[key] {
		return nil
	}
	if visiting == nil {
		visiting = map[string]bool{}
	}
	visiting[key] = true
	d, ok := c.s.Definitions[def]
	if !ok {
		return nil
	}
	r, ok := d.Relations[rel]
	if !ok || r.Kind != KindRelation {
		return nil
	}
	// The relation may not be resolved yet: read its allowed types from the AST.
	var found *wildcardRef
	if ar := c.astRelation(def, rel); ar != nil {
		for _, t := range ar.Types {
			if t.Wildcard {
				found = &wildcardRef{Def: def, Relation: rel, Type: t.Type.Name}
				break
			}
			if t.Relation.Name != "" && t.Relation.Name != tuple.Ellipsis {
				if w := c.wildcardVia(t.Type.Name, t.Relation.Name, visiting); w != nil {
					found = w
					break
				}
			}
		}
	}
	if c.wildcardMemo == nil {
		c.wildcardMemo = map[string]*wildcardRef{}
	}
	c.wildcardMemo[key] = found
	return found
}

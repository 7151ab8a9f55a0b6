package schema

import (
	"slices"
	"sort"
	"strings"

	"github.com/pemba-authz/pemba/internal/caveat"
)

// expr translates a permission (or grant rule) expression and checks every name it
// uses. what names the owner for messages, e.g. "permission `view`".
func (c *compiler) expr(d *Definition, what string, e astExpr) Expr {
	switch e := e.(type) {
	case *astParen:
		return c.expr(d, what, e.Inner)
	case *astNil:
		return &Nil{}
	case *astRef:
		c.checkRef(d, what, e.astIdent)
		return &Computed{Relation: e.Name, Pos: c.pos(e.Pos)}
	case *astArrow:
		c.checkArrow(d, what, e)
		mode := ArrowAny
		if e.Func == "all" {
			mode = ArrowAll
		}
		return &Arrow{Tupleset: e.Tupleset.Name, Computed: e.Target.Name, Mode: mode, Pos: c.pos(e.Tupleset.Pos)}
	case *astChain:
		operands := make([]Expr, len(e.Operands))
		for i, o := range e.Operands {
			operands[i] = c.expr(d, what, o)
		}
		switch e.Op {
		case tokPlus:
			u := &Union{}
			for _, o := range operands {
				u.Children = append(u.Children, flattenUnion(o)...)
			}
			return u
		case tokAmp:
			in := &Intersection{}
			for _, o := range operands {
				in.Children = append(in.Children, flattenIntersection(o)...)
			}
			return in
		default:
			acc := operands[0]
			for _, o := range operands[1:] {
				acc = &Exclusion{Base: acc, Subtract: o}
			}
			return acc
		}
	}
	return &Nil{}
}

// flattenUnion splices nested unions: union is associative, so a + (b + c) and
// (a + b) + c are the same union of three.
func flattenUnion(e Expr) []Expr {
	if u, ok := e.(*Union); ok {
		return u.Children
	}
	return []Expr{e}
}

func flattenIntersection(e Expr) []Expr {
	if u, ok := e.(*Intersection); ok {
		return u.Children
	}
	return []Expr{e}
}

func (c *compiler) checkRef(d *Definition, what string, id astIdent) {
	if _, ok := d.Relations[id.Name]; ok {
		return
	}
	if id.Name == "self" {
		c.diag.add(id.Pos, "`self` is not supported by Pemba (used in %s): write the subject relation explicitly", what)
		return
	}
	c.diag.add(id.Pos, "relation or permission `%s` not found on definition `%s` (used in %s)%s", id.Name, d.Name, what, c.suggest(id.Name, d.Order))
}

// checkArrow applies the established rules to tupleset->target: the tupleset is a
// relation (not a permission) of this definition that allows no wildcard, and the
// target exists on at least one of the tupleset's subject types. A target missing on
// some subject types is fine: the arrow finds nothing there.
func (c *compiler) checkArrow(d *Definition, what string, a *astArrow) {
	arrow := arrowText(a)
	ts, ok := d.Relations[a.Tupleset.Name]
	if !ok {
		c.diag.add(a.Tupleset.Pos, "relation `%s` not found on definition `%s` (left of arrow `%s` in %s)%s", a.Tupleset.Name, d.Name, arrow, what, c.suggest(a.Tupleset.Name, d.Order))
		return
	}
	if ts.Kind == KindPermission {
		c.diag.add(a.Tupleset.Pos, "`%s` is a permission; the left of arrow `%s` (in %s) must be a relation", a.Tupleset.Name, arrow, what)
		return
	}
	var types []string
	if ar := c.astRelation(d.Name, ts.Name); ar != nil {
		for _, t := range ar.Types {
			if t.Wildcard {
				c.diag.add(a.Tupleset.Pos, "relation `%s` allows wildcard `%s:*`, so it cannot be the left of arrow `%s` (in %s)", ts.Name, t.Type.Name, arrow, what)
				return
			}
			if t.Relation.Name != "" && t.Relation.Name != "..." {
				if w := c.wildcardVia(t.Type.Name, t.Relation.Name, nil); w != nil {
					c.diag.add(a.Tupleset.Pos, "relation `%s` includes wildcard `%s:*` via `%s#%s`, so it cannot be the left of arrow `%s` (in %s)", ts.Name, w.Type, w.Def, w.Relation, arrow, what)
					return
				}
			}
			if !slices.Contains(types, t.Type.Name) {
				types = append(types, t.Type.Name)
			}
		}
	}
	var candidates []string
	for _, tn := range types {
		td, ok := c.s.Definitions[tn]
		if !ok {
			return // unknown subject type, reported on the relation
		}
		if _, ok := td.Relations[a.Target.Name]; ok {
			return
		}
		candidates = append(candidates, td.Order...)
	}
	if len(types) == 0 {
		return
	}
	c.diag.add(a.Target.Pos, "arrow `%s` (in %s): none of the subject types of `%s` (%s) has a relation or permission `%s`%s",
		arrow, what, ts.Name, strings.Join(types, ", "), a.Target.Name, c.suggest(a.Target.Name, candidates))
}

// checkCycles reports permissions that reach themselves through computed references
// only (no relationship in between), which could never be evaluated.
func (c *compiler) checkCycles(d *Definition) {
	edges := map[string][]*Computed{}
	var perms []string
	for _, n := range d.Order {
		r := d.Relations[n]
		if r.Kind != KindPermission || r.Expr == nil {
			continue
		}
		perms = append(perms, n)
		Walk(r.Expr, func(e Expr) {
			cu, ok := e.(*Computed)
			if !ok {
				return
			}
			if t, ok := d.Relations[cu.Relation]; ok && t.Kind == KindPermission {
				edges[n] = append(edges[n], cu)
			}
		})
	}
	if len(edges) == 0 {
		return // no permission uses another permission directly: no cycle possible
	}
	successors := func(n string) []string {
		out := make([]string, len(edges[n]))
		for i, e := range edges[n] {
			out[i] = e.Relation
		}
		return out
	}
	order := map[string]int{}
	for i, n := range d.Order {
		order[n] = i
	}
	for _, comp := range StronglyConnected(perms, successors) {
		if !OnCycle(comp, successors) {
			continue
		}
		in := map[string]bool{}
		for _, n := range comp {
			in[n] = true
		}
		sort.Slice(comp, func(i, j int) bool { return order[comp[i]] < order[comp[j]] })
		start := comp[0]
		path := cyclePath(start, edges, in)
		var at Position
		for _, e := range edges[start] {
			if in[e.Relation] {
				at = e.Pos
				break
			}
		}
		c.diag.add(at, "permission `%s` reaches itself without passing through a relationship (%s), so it can never be evaluated", start, strings.Join(path, " -> "))
	}
}

// cyclePath finds a path start -> ... -> start inside one component.
func cyclePath(start string, edges map[string][]*Computed, in map[string]bool) []string {
	prev := map[string]string{}
	queue := []string{start}
	visited := map[string]bool{}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range edges[v] {
			w := e.Relation
			if !in[w] {
				continue
			}
			if w == start {
				path := []string{start}
				for x := v; x != start; x = prev[x] {
					path = append(path, x)
				}
				path = append(path, start)
				slices.Reverse(path[1 : len(path)-1])
				return path
			}
			if !visited[w] {
				visited[w] = true
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []string{start, start}
}

// compileCaveat checks parameter names and types and type-checks the CEL expression,
// mapping CEL error positions into the schema file.
func (c *compiler) compileCaveat(n *astCaveat) {
	cv := c.s.Caveats[n.Name.Name]
	if cv == nil || cv.Pos != c.pos(n.Pos) {
		return
	}
	ok := true
	seen := map[string]bool{}
	for _, p := range n.Params {
		if !isCELIdent(p.Name.Name) {
			c.diag.add(p.Name.Pos, "invalid parameter name `%s` in caveat `%s`: use letters, digits and _ and do not start with a digit", p.Name.Name, cv.Name)
			ok = false
		} else if celReserved[p.Name.Name] {
			c.diag.add(p.Name.Pos, "parameter name `%s` in caveat `%s` is a reserved word of the expression language", p.Name.Name, cv.Name)
			ok = false
		}
		if seen[p.Name.Name] {
			c.diag.add(p.Name.Pos, "parameter `%s` is declared twice in caveat `%s`", p.Name.Name, cv.Name)
			ok = false
		}
		seen[p.Name.Name] = true
		if err := caveat.CheckType(p.Type); err != nil {
			c.diag.add(p.TypePos, "parameter `%s` of caveat `%s`: %v", p.Name.Name, cv.Name, err)
			ok = false
		}
	}
	if !ok {
		return
	}
	prg, err := caveat.Compile(cv.Name, cv.Parameters, cv.Expression)
	if err == nil {
		cv.Program = prg
		return
	}
	ce, isCE := err.(*caveat.CompileError)
	if !isCE {
		c.diag.add(n.ExprPos, "caveat `%s`: %v", cv.Name, err)
		return
	}
	for _, is := range ce.Issues {
		at := n.ExprPos
		if is.Line == 1 {
			at.Col += is.Col - 1
		} else if is.Line > 1 {
			at.Line += is.Line - 1
			at.Col = is.Col
		}
		c.diag.add(at, "caveat `%s`: %s", cv.Name, firstLine(is.Message))
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func isCELIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// celReserved are words the expression language reserves.
var celReserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true,
	"const": true, "continue": true, "else": true, "for": true, "function": true, "if": true,
	"import": true, "let": true, "loop": true, "package": true, "namespace": true,
	"return": true, "var": true, "void": true, "while": true,
}

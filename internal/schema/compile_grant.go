package schema

import (
	"slices"
	"strings"
)

// grant compiles one grant rule and synthesises its hidden permission.
func (c *compiler) grant(d *Definition, g *astGrant) {
	rule := &GrantRule{MaxLifetime: g.MaxLifetime, Text: oneLine(g.Text), Pos: c.pos(g.Pos)}
	listed := map[string]bool{}
	for _, id := range g.Relations {
		r, ok := d.Relations[id.Name]
		switch {
		case !ok:
			c.diag.add(id.Pos, "grant rule names relation `%s`, which is not found on definition `%s`%s", id.Name, d.Name, c.suggest(id.Name, relationNames(d)))
			continue
		case r.Kind == KindPermission:
			c.diag.add(id.Pos, "grant rule names `%s`, which is a permission: grant rules cover relations, the things that can be written", id.Name)
			continue
		case listed[id.Name]:
			c.diag.add(id.Pos, "grant rule names relation `%s` twice", id.Name)
			continue
		case r.Grant != nil:
			c.diag.add(id.Pos, "relation `%s` already has a grant rule (line %d); a relation may have at most one", id.Name, r.Grant.Pos.Line)
			continue
		}
		listed[id.Name] = true
		rule.Relations = append(rule.Relations, id.Name)
	}
	rule.Expr = c.expr(d, "the grant rule for "+strings.Join(identNames(g.Relations), ", "), g.Expr)
	if len(rule.Relations) == 0 {
		return
	}
	if rule.MaxLifetime > 0 {
		for _, n := range rule.Relations {
			if !slices.ContainsFunc(d.Relations[n].AllowedSubjects, func(a AllowedSubject) bool { return a.Expiration }) {
				c.diag.add(g.LifetimePos, "grant rule says `expiring within %s`, but relation `%s` allows no subject type `with expiration`, so a delegate could never write it (add `%s with expiration` to it)",
					g.LifetimeText, n, firstType(d.Relations[n]))
			}
		}
	}
	rule.Permission = GrantPermissionPrefix + strings.Join(rule.Relations, ",")
	d.Relations[rule.Permission] = &Relation{
		Name: rule.Permission, Kind: KindPermission, Definition: d.Name, Expr: rule.Expr,
		Synthetic: true, Pos: rule.Pos,
	}
	for _, n := range rule.Relations {
		d.Relations[n].Grant = rule
	}
	d.Grants = append(d.Grants, rule)
	if len(g.Conditions) > 0 {
		c.pendingDeps = append(c.pendingDeps, pendingDeps{d: d, rule: rule, ast: g})
	}
}

// pendingDeps is a grant rule whose "while" conditions are checked once every
// definition is resolved, since they name relations of other definitions.
type pendingDeps struct {
	d    *Definition
	rule *GrantRule
	ast  *astGrant
}

// dependencies compiles a rule's "while" conditions into rule.Dependencies.
func (c *compiler) dependencies(pd pendingDeps) {
	d, rule := pd.d, pd.rule
	for _, cond := range pd.ast.Conditions {
		dep := Dependency{Kind: cond.Kind, Type: cond.Type.Name, Relation: cond.Relation.Name, Pos: c.pos(cond.Pos)}
		if slices.ContainsFunc(rule.Dependencies, func(x Dependency) bool { return x.Kind == dep.Kind && x.Type == dep.Type && x.Relation == dep.Relation }) {
			c.diag.add(cond.Pos, "condition `%s` is listed twice in the grant rule", dep)
			continue
		}
		if dep.Kind == GranteeIn && !c.granteeIn(d, rule, cond, dep) {
			continue
		}
		rule.Dependencies = append(rule.Dependencies, dep)
	}
}

// granteeIn checks "grantee in TYPE#RELATION": the type and relation exist, the
// condition does not hold up the grant it governs, and every subject type the
// covered relations allow could be in TYPE#RELATION.
func (c *compiler) granteeIn(d *Definition, rule *GrantRule, cond *astCondition, dep Dependency) bool {
	target, ok := c.s.Definitions[dep.Type]
	if !ok {
		c.diag.add(cond.Type.Pos, "definition `%s` not found (in condition `%s`)%s", dep.Type, dep, c.suggest(dep.Type, c.definitionNames()))
		return false
	}
	if _, ok := target.Relations[dep.Relation]; !ok {
		c.diag.add(cond.Relation.Pos, "relation or permission `%s` not found on definition `%s` (in condition `%s`)%s", dep.Relation, dep.Type, dep, c.suggest(dep.Relation, target.Order))
		return false
	}
	if dep.Type == d.Name {
		if covered := reachesCovered(d, dep.Relation, rule.Relations); covered != "" {
			c.diag.add(cond.Relation.Pos, "condition `%s` depends on relation `%s`, which this rule grants: a grant would keep itself in force (depend on a relation the rule does not cover)", dep, covered)
			return false
		}
	}
	return c.subjectsFit(d, rule.Relations, dep.Type, dep.Relation, cond.Pos, "condition `"+dep.String()+"`", "grantee")
}

// subjectsFit checks that every subject type the relations rels of d allow could be
// in typ#rel, which a condition (what) requires of the subject (who) of a grant or
// request; it reports each misfit at pos.
func (c *compiler) subjectsFit(d *Definition, rels []string, typ, rel string, pos Position, what, who string) bool {
	kinds := map[string]bool{}
	c.subjectKinds(typ, rel, map[string]bool{}, kinds)
	ok := true
	for _, n := range rels {
		for _, a := range d.Relations[n].AllowedSubjects {
			kind := a.Type
			if a.Relation != "" {
				kind += "#" + a.Relation
			}
			switch {
			case a.Wildcard:
				c.diag.add(pos, "relation `%s` allows wildcard `%s:*`, and a wildcard %s is never in `%s#%s`: %s cannot cover it (grant wildcards through a relation of their own)", n, a.Type, who, typ, rel, what)
				ok = false
			case !kinds[kind]:
				c.diag.add(pos, "relation `%s` allows `%s`, but `%s#%s` can never hold a `%s`, so such a %s could never satisfy %s", n, kind, typ, rel, kind, who, what)
				ok = false
			}
		}
	}
	return ok
}

// reachesCovered returns the covered relation that relation name of d is, or uses
// through permissions of d (arrows, which pass through relationships to other
// objects, are not followed), or "" when there is none.
func reachesCovered(d *Definition, name string, covered []string) string {
	seen := map[string]bool{}
	var visit func(n string) string
	visit = func(n string) string {
		if seen[n] {
			return ""
		}
		seen[n] = true
		if slices.Contains(covered, n) {
			return n
		}
		r := d.Relations[n]
		if r == nil || r.Kind != KindPermission {
			return ""
		}
		found := ""
		Walk(r.Expr, func(e Expr) {
			if cu, ok := e.(*Computed); ok && found == "" {
				found = visit(cu.Relation)
			}
		})
		return found
	}
	return visit(name)
}

// subjectKinds adds to out every kind of subject typ#rel can hold: object types
// ("user") and subject sets ("group#member"), through subject sets, permissions and
// arrows. It over-approximates (an exclusion's subtracted side counts too), which is
// what a check that something can never hold needs.
func (c *compiler) subjectKinds(typ, rel string, seen, out map[string]bool) {
	key := typ + "#" + rel
	if seen[key] {
		return
	}
	seen[key] = true
	d := c.s.Definitions[typ]
	if d == nil || d.Relations[rel] == nil {
		return
	}
	r := d.Relations[rel]
	if r.Kind == KindRelation {
		for _, a := range r.AllowedSubjects {
			if a.Relation == "" {
				out[a.Type] = true
				continue
			}
			out[a.Type+"#"+a.Relation] = true
			c.subjectKinds(a.Type, a.Relation, seen, out)
		}
		return
	}
	Walk(r.Expr, func(e Expr) {
		switch e := e.(type) {
		case *Computed:
			c.subjectKinds(typ, e.Relation, seen, out)
		case *Arrow:
			if ts := d.Relations[e.Tupleset]; ts != nil {
				for _, a := range ts.AllowedSubjects {
					c.subjectKinds(a.Type, e.Computed, seen, out)
				}
			}
		}
	})
}

func firstType(r *Relation) string {
	if len(r.AllowedSubjects) == 0 {
		return "user"
	}
	return r.AllowedSubjects[0].Type
}

func identNames(ids []astIdent) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Name
	}
	return out
}

func relationNames(d *Definition) []string {
	var out []string
	for _, n := range d.Order {
		if d.Relations[n].Kind == KindRelation {
			out = append(out, n)
		}
	}
	return out
}

// oneLine is a rule's source text on one line, as audit records and error messages
// quote it: a rule written over several lines keeps its words, not its line breaks.
func oneLine(text string) string { return strings.Join(strings.Fields(text), " ") }

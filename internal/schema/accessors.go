package schema

// Definition returns the definition with the given name, or nil.
func (s *Schema) Definition(name string) *Definition {
	if s == nil {
		return nil
	}
	return s.Definitions[name]
}

// Relation returns the relation or permission name on definition typ. Synthetic grant
// permissions are found too (their names start with GrantPermissionPrefix).
func (s *Schema) Relation(typ, name string) (*Relation, bool) {
	d := s.Definition(typ)
	if d == nil {
		return nil, false
	}
	r, ok := d.Relations[name]
	return r, ok
}

// Caveat returns the caveat with the given name, or nil.
func (s *Schema) Caveat(name string) *Caveat {
	if s == nil {
		return nil
	}
	return s.Caveats[name]
}

// DefinitionNames lists the definitions in source order.
func (s *Schema) DefinitionNames() []string { return inSourceOrder(s.Order, s.Definitions) }

// CaveatNames lists the caveats in source order.
func (s *Schema) CaveatNames() []string { return inSourceOrder(s.Order, s.Caveats) }

// inSourceOrder picks the names of byName out of order, which lists definitions and
// caveats together as they were written.
func inSourceOrder[V any](order []string, byName map[string]V) []string {
	out := make([]string, 0, len(byName))
	for _, n := range order {
		if _, ok := byName[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// IsPermission reports whether r is a permission (computed, not stored).
func (r *Relation) IsPermission() bool { return r.Kind == KindPermission }

// String renders the allowed subject type as written in a schema, e.g. "user:*",
// "group#member" or "user with ip_allowed and expiration".
func (a AllowedSubject) String() string { return allowedText(a) }

// GrantRule returns the rule that authorises delegated writes of relation typ#relation,
// with its dependencies, or nil when delegates may not write it.
func (s *Schema) GrantRule(typ, relation string) *GrantRule {
	r, ok := s.Relation(typ, relation)
	if !ok {
		return nil
	}
	return r.Grant
}

// DependentRule is a grant rule of Definition that one of its dependencies ties to a
// relation or permission.
type DependentRule struct {
	Definition string
	Rule       *GrantRule
	Dependency Dependency
}

// RulesDependingOn lists the grant rules whose grants a change to relation or
// permission typ#relation can end, one entry per dependency, in schema order: a
// `grantee in` condition whose TYPE#RELATION is typ#relation or reads it, and a
// `grantor can grant` condition whose rule's expression reads it. "Reads" follows
// permissions, arrows (the tupleset relation included: re-parenting an organisation
// can end a grant) and subject sets (group membership). A sweeper that sees
// typ#relation change re-checks the grants of these rules. It walks the schema on
// every call.
func (s *Schema) RulesDependingOn(typ, relation string) []DependentRule {
	var out []DependentRule
	target := typ + "#" + relation
	for _, dn := range s.DefinitionNames() {
		d := s.Definitions[dn]
		for _, g := range d.Grants {
			for _, dep := range g.Dependencies {
				var reads map[string]bool
				if dep.Kind == GranteeIn {
					reads = s.reads(dep.Type, dep.Relation)
				} else {
					reads = s.reads(dn, g.Permission)
				}
				if reads[target] {
					out = append(out, DependentRule{Definition: dn, Rule: g, Dependency: dep})
				}
			}
		}
	}
	return out
}

// reads returns every "type#relation" that evaluating typ#rel can read, itself
// included.
func (s *Schema) reads(typ, rel string) map[string]bool {
	seen := map[string]bool{}
	var visit func(typ, rel string)
	visit = func(typ, rel string) {
		key := typ + "#" + rel
		if seen[key] {
			return
		}
		r, ok := s.Relation(typ, rel)
		if !ok {
			return
		}
		seen[key] = true
		if r.Kind == KindRelation {
			for _, a := range r.AllowedSubjects {
				if a.Relation != "" {
					visit(a.Type, a.Relation)
				}
			}
			return
		}
		Walk(r.Expr, func(e Expr) {
			switch e := e.(type) {
			case *Computed:
				visit(typ, e.Relation)
			case *Arrow:
				visit(typ, e.Tupleset)
				if ts, ok := s.Relation(typ, e.Tupleset); ok {
					for _, a := range ts.AllowedSubjects {
						visit(a.Type, e.Computed)
					}
				}
			}
		})
	}
	visit(typ, rel)
	return seen
}

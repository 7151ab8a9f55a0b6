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

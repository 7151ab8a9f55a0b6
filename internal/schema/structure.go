package schema

// StructuralRelations lists, per definition, the relations some arrow walks (the
// tupleset, the left side of "->" or of .any()/.all()): the relations that shape the
// object hierarchy, such as an organisation's "parent" or a project's "owner_org".
// Permissions inherit along exactly these relations, so they also define what lies
// inside an organisation's subtree. Synthetic grant-rule permissions count too: a
// rule's arrows walk the hierarchy like any other permission's.
func (s *Schema) StructuralRelations() map[string][]string {
	out := map[string][]string{}
	seen := map[[2]string]bool{}
	var walk func(def string, e Expr)
	walk = func(def string, e Expr) {
		switch x := e.(type) {
		case *Union:
			for _, c := range x.Children {
				walk(def, c)
			}
		case *Intersection:
			for _, c := range x.Children {
				walk(def, c)
			}
		case *Exclusion:
			walk(def, x.Base)
			walk(def, x.Subtract)
		case *Arrow:
			if k := [2]string{def, x.Tupleset}; !seen[k] {
				seen[k] = true
				out[def] = append(out[def], x.Tupleset)
			}
		}
	}
	for name, d := range s.Definitions {
		for _, r := range d.Relations {
			if r.Kind == KindPermission && r.Expr != nil {
				walk(name, r.Expr)
			}
		}
	}
	return out
}

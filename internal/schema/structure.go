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
	for name, d := range s.Definitions {
		for _, r := range d.Relations {
			if r.Kind != KindPermission {
				continue
			}
			Walk(r.Expr, func(e Expr) {
				if a, ok := e.(*Arrow); ok {
					if k := [2]string{name, a.Tupleset}; !seen[k] {
						seen[k] = true
						out[name] = append(out[name], a.Tupleset)
					}
				}
			})
		}
	}
	return out
}

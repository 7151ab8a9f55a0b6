package schema

// Walk calls visit for e and then for every expression below it, depth first and
// in the order the operands were written: the children of a union or an
// intersection, then an exclusion's base before its subtracted side. A nil e visits
// nothing. Arrows are leaves: their tupleset and computed relation are names, not
// expressions, because an arrow passes through a relationship.
func Walk(e Expr, visit func(Expr)) {
	if e == nil {
		return
	}
	visit(e)
	switch e := e.(type) {
	case *Union:
		for _, c := range e.Children {
			Walk(c, visit)
		}
	case *Intersection:
		for _, c := range e.Children {
			Walk(c, visit)
		}
	case *Exclusion:
		Walk(e.Base, visit)
		Walk(e.Subtract, visit)
	}
}

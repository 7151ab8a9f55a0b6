package schema

import (
	"testing"
	"time"
)

func TestGrantRules(t *testing.T) {
	s := mustCompile(t, `use expiration
definition user {}
definition org {
	relation parent: org
	relation admin: user | user with expiration
	relation billing_admin: user with expiration
	relation member: user
	permission manage = admin + parent->manage
	grant member by manage
	grant admin, billing_admin by manage & admin expiring within 12h
}`)
	org := s.Definition("org")
	if len(org.Grants) != 2 {
		t.Fatalf("grants: %+v", org.Grants)
	}
	for _, n := range org.Order {
		if org.Relations[n].Synthetic {
			t.Errorf("synthetic permission %s is listed in Order", n)
		}
	}
	g := org.Grants[1]
	if g.Permission != "grant:admin,billing_admin" || g.MaxLifetime != 12*time.Hour ||
		g.Text != "grant admin, billing_admin by manage & admin expiring within 12h" ||
		len(g.Relations) != 2 || g.Pos.Line != 10 || g.Pos.Col != 2 {
		t.Errorf("rule = %+v", g)
	}
	if sexpr(g.Expr) != "(& manage admin)" {
		t.Errorf("expr = %s", sexpr(g.Expr))
	}
	for _, n := range []string{"admin", "billing_admin"} {
		if r, _ := s.Relation("org", n); r.Grant != g {
			t.Errorf("%s.Grant = %+v", n, r.Grant)
		}
	}
	if r, _ := s.Relation("org", "parent"); r.Grant != nil {
		t.Error("parent has no rule, so delegates may not write it")
	}
	p, ok := s.Relation("org", g.Permission)
	if !ok || !p.Synthetic || p.Kind != KindPermission || p.Expr != g.Expr || p.Definition != "org" {
		t.Errorf("synthetic = %+v", p)
	}
	first := org.Grants[0]
	if first.MaxLifetime != 0 || first.Permission != "grant:member" || sexpr(first.Expr) != "manage" {
		t.Errorf("first = %+v", first)
	}
}

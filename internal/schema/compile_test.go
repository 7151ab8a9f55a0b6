package schema

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sexpr renders an expression with every operator bracketed, so tests pin the tree.
func sexpr(e Expr) string {
	join := func(op string, ch []Expr) string {
		parts := make([]string, len(ch))
		for i, c := range ch {
			parts[i] = sexpr(c)
		}
		return "(" + op + " " + strings.Join(parts, " ") + ")"
	}
	switch e := e.(type) {
	case *Union:
		return join("+", e.Children)
	case *Intersection:
		return join("&", e.Children)
	case *Exclusion:
		return join("-", []Expr{e.Base, e.Subtract})
	case *Computed:
		return e.Relation
	case *Arrow:
		if e.Mode == ArrowAll {
			return e.Tupleset + ".all(" + e.Computed + ")"
		}
		return e.Tupleset + "->" + e.Computed
	case *Nil:
		return "nil"
	}
	return "?"
}

func mustCompile(t *testing.T, src string) *Schema {
	t.Helper()
	s, err := Compile("test.zed", src)
	if err != nil {
		t.Fatalf("compile failed:\n%v", err)
	}
	return s
}

// TestPrecedence pins the established operator precedence: `+` binds tightest, then
// `&`, then `-`, all left-associative.
func TestPrecedence(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"a + b + c", "(+ a b c)"},
		{"a - b - c", "(- (- a b) c)"},
		{"a & b & c", "(& a b c)"},
		{"a + b - c", "(- (+ a b) c)"},
		{"a - b + c", "(- a (+ b c))"},
		{"a + b & c", "(& (+ a b) c)"},
		{"a & b + c", "(& a (+ b c))"},
		{"a & b - c", "(- (& a b) c)"},
		{"a - b & c", "(- a (& b c))"},
		{"a + (b & c)", "(+ a (& b c))"},
		{"(a - b) - (c - d)", "(- (- a b) (- c d))"},
		{"a + (b + c)", "(+ a b c)"},
		{"((a))", "a"},
		{"rel->a + rel.any(b) & rel.all(c)", "(& (+ rel->a rel->b) rel.all(c))"},
		{"a + nil", "(+ a nil)"},
		{"nil", "nil"},
	}
	for _, tc := range cases {
		// Single letters stand for three-letter names (names need 3 characters).
		long := regexp.MustCompile(`\b([abcd])\b`)
		expr, want := long.ReplaceAllString(tc.expr, "$1$1$1"), long.ReplaceAllString(tc.want, "$1$1$1")
		src := `definition other { relation aaa: other
		relation bbb: other
		relation ccc: other
		relation ddd: other }
		definition doc {
			relation aaa: other
			relation bbb: other
			relation ccc: other
			relation ddd: other
			relation rel: other
			permission ppp = ` + expr + `
		}`
		s := mustCompile(t, src)
		r, _ := s.Relation("doc", "ppp")
		if got := sexpr(r.Expr); got != want {
			t.Errorf("%s: got %s, want %s", tc.expr, got, tc.want)
		}
	}
}

func TestCompileModel(t *testing.T) {
	src := `use expiration

/** A person. */
definition user {}

// not a doc comment
caveat ip_allowed(client_ip ipaddress, cidr string) {
	client_ip.in_cidr(cidr)
}

/**
 * A group of users.
 * Nested groups allowed.
 */
definition acme/group {
	/** members of the group */
	relation member: user | acme/group#member | user with expiration
}

definition document {
	relation owner: user with ip_allowed and expiration
	relation viewer: user | user:* | acme/group#member | user with ip_allowed | user with expiration
	relation parent: document
	permission view = viewer + owner + parent->view
	permission view_all = parent.all(view)
	grant viewer by owner expiring within 90d
}`
	s := mustCompile(t, src)
	if !s.UseExpiration {
		t.Error("UseExpiration not set")
	}
	if got := strings.Join(s.Order, ","); got != "user,ip_allowed,acme/group,document" {
		t.Errorf("Order = %s", got)
	}
	if got := s.Definition("user").Comment; got != "A person." {
		t.Errorf("user comment = %q", got)
	}
	if got := s.Definition("acme/group").Comment; got != "A group of users.\nNested groups allowed." {
		t.Errorf("group comment = %q", got)
	}
	if got := s.Caveat("ip_allowed").Comment; got != "" {
		t.Errorf("line comments must not become doc comments, got %q", got)
	}
	m, _ := s.Relation("acme/group", "member")
	if m.Comment != "members of the group" || m.Kind != KindRelation || m.Definition != "acme/group" {
		t.Errorf("member = %+v", m)
	}
	want := []AllowedSubject{{Type: "user"}, {Type: "acme/group", Relation: "member"}, {Type: "user", Expiration: true}}
	if len(m.AllowedSubjects) != len(want) {
		t.Fatalf("allowed = %+v", m.AllowedSubjects)
	}
	for i := range want {
		if m.AllowedSubjects[i] != want[i] {
			t.Errorf("allowed[%d] = %+v, want %+v", i, m.AllowedSubjects[i], want[i])
		}
	}
	o, _ := s.Relation("document", "owner")
	if o.AllowedSubjects[0] != (AllowedSubject{Type: "user", Caveat: "ip_allowed", Expiration: true}) {
		t.Errorf("owner = %+v", o.AllowedSubjects)
	}
	v, _ := s.Relation("document", "viewer")
	if !v.AllowedSubjects[1].Wildcard || v.AllowedSubjects[3].Caveat != "ip_allowed" || !v.AllowedSubjects[4].Expiration {
		t.Errorf("viewer = %+v", v.AllowedSubjects)
	}
	va, _ := s.Relation("document", "view_all")
	if a, ok := va.Expr.(*Arrow); !ok || a.Mode != ArrowAll || a.Tupleset != "parent" || a.Computed != "view" {
		t.Errorf("view_all = %#v", va.Expr)
	}
	view, _ := s.Relation("document", "view")
	if view.Kind != KindPermission || sexpr(view.Expr) != "(+ viewer owner parent->view)" {
		t.Errorf("view = %s", sexpr(view.Expr))
	}
	if c := view.Expr.(*Union).Children[0].(*Computed); c.Pos.Line != 24 || c.Pos.Col != 20 || c.Pos.File != "test.zed" {
		t.Errorf("position of viewer in view = %+v", c.Pos)
	}
	cv := s.Caveat("ip_allowed")
	if cv.Expression != "client_ip.in_cidr(cidr)" || cv.Program == nil || len(cv.Parameters) != 2 || cv.Parameters[0].Type != "ipaddress" {
		t.Errorf("caveat = %+v", cv)
	}
	doc := s.Definition("document")
	if got := strings.Join(doc.Order, ","); got != "owner,viewer,parent,view,view_all" {
		t.Errorf("document order = %s", got)
	}
	if len(doc.Grants) != 1 {
		t.Fatalf("grants = %+v", doc.Grants)
	}
	g := doc.Grants[0]
	if g.Permission != "grant:viewer" || g.MaxLifetime != 90*24*time.Hour || g.Text != "grant viewer by owner expiring within 90d" || v.Grant != g {
		t.Errorf("grant = %+v", g)
	}
	gp, ok := s.Relation("document", "grant:viewer")
	if !ok || !gp.Synthetic || gp.Kind != KindPermission || sexpr(gp.Expr) != "owner" {
		t.Errorf("synthetic permission = %+v", gp)
	}
}

func TestGrantAsOrdinaryName(t *testing.T) {
	s := mustCompile(t, `definition user {}
definition doc {
	relation grant: user
	relation by_user: user
	permission grant_view = grant + by_user
	grant grant by grant
}`)
	r, _ := s.Relation("doc", "grant_view")
	if sexpr(r.Expr) != "(+ grant by_user)" {
		t.Errorf("got %s", sexpr(r.Expr))
	}
	g, _ := s.Relation("doc", "grant")
	if g.Grant == nil || g.Grant.Permission != "grant:grant" {
		t.Errorf("grant rule on relation named grant: %+v", g.Grant)
	}
}

func TestStatementSeparators(t *testing.T) {
	s := mustCompile(t, "definition user {}; definition doc { relation aaa: user; permission bbb = aaa; }")
	if _, ok := s.Relation("doc", "bbb"); !ok {
		t.Fatal("bbb missing")
	}
	// A folded YAML block puts `use` and the first definition on one line.
	mustCompile(t, "use expiration definition user {}\ndefinition doc {\n relation viewer: user with expiration\n}")
}

func TestParseLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90d": 90 * 24 * time.Hour, "12h": 12 * time.Hour, "30m": 30 * time.Minute,
		"45s": 45 * time.Second, "2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour,
	} {
		got, err := parseLifetime(in)
		if err != nil || got != want {
			t.Errorf("%s: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"90", "0d", "5y", "d", "99999999999999d"} {
		if _, err := parseLifetime(bad); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestManyErrorsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("definition user {}\ndefinition doc {\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, "\tpermission p%03d = missing%03d\n", i, i)
	}
	b.WriteString("}\n")
	_, err := Compile("many.zed", b.String())
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %T %v", err, err)
	}
	if len(list) != maxErrors+1 || !strings.Contains(list[maxErrors].Message, "too many errors: 10 more not shown") {
		t.Errorf("got %d errors, last %q", len(list), list[len(list)-1].Message)
	}
	if list[0].Pos.Line != 3 || list[0].Pos.File != "many.zed" {
		t.Errorf("first error at %v", list[0].Pos)
	}
}

func TestSourceLimits(t *testing.T) {
	big := strings.Repeat(" ", MaxSourceBytes+1)
	if _, err := Compile("big.zed", big); err == nil || !strings.Contains(err.Error(), "the limit is 1048576 bytes") {
		t.Errorf("got %v", err)
	}
	deep := "definition user {}\ndefinition doc { relation viewer: user\n permission p = " +
		strings.Repeat("(", MaxExpressionDepth+5) + "viewer" + strings.Repeat(")", MaxExpressionDepth+5) + " }"
	if _, err := Compile("deep.zed", deep); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("got %v", err)
	}
	ok := "definition user {}\ndefinition doc { relation viewer: user\n permission ppp = " +
		strings.Repeat("(", MaxExpressionDepth) + "viewer" + strings.Repeat(")", MaxExpressionDepth) + " }"
	mustCompile(t, ok)
	if _, err := Compile("bad.zed", "definition user {}\n\xff"); err == nil || !strings.Contains(err.Error(), "bad.zed:2:1: schema is not valid UTF-8") {
		t.Errorf("got %v", err)
	}
}

package openfga

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/tuple"
)

const driveDSL = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type folder
  relations
    define owner: [user]
    define parent: [folder]
    define viewer: [user, user:*, group#member] or owner or viewer from parent
`

// The JSON of the OpenFGA API and the DSL of the same model translate alike.
func TestJSONAndDSLAgree(t *testing.T) {
	raw, err := os.ReadFile("testdata/drive.json")
	if err != nil {
		t.Fatal(err)
	}
	jm, err := ParseModel("drive.json", raw)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := ParseModel("drive.fga", []byte(driveDSL))
	if err != nil {
		t.Fatal(err)
	}
	jt, err := Translate(jm)
	if err != nil {
		t.Fatal(err)
	}
	dt, err := Translate(dm)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON has no order of relations; compare the statements as sets.
	lines := func(s string) map[string]bool {
		out := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			out[strings.TrimSpace(l)] = true
		}
		return out
	}
	if d := cmp.Diff(lines(dt.Schema), lines(jt.Schema)); d != "" {
		t.Errorf("DSL and JSON translations differ (-dsl +json):\n%s", d)
	}
	want := "permission viewer = (viewer_direct + owner + parent->viewer)"
	if !strings.Contains(dt.Schema, want) {
		t.Errorf("translation lacks %q:\n%s", want, dt.Schema)
	}
}

// Every construct maps to its Pemba form.
func TestConstructs(t *testing.T) {
	m, err := ParseDSL(`model
  schema 1.1
type user
type team
  relations
    define member: [user, team#member]
type doc
  relations
    define parent: [doc]
    define owner: [user]
    define banned: [user, team#member]
    define editor: [user with okay] or owner
    define viewer: [user, user:*] or editor or viewer from parent
    define both: owner and editor
    define allowed: viewer but not banned
    define grouped: (owner or editor) and (viewer but not banned)
condition okay(n: int, tags: map<string>) {
  n < 10 &&
  "x" in tags
}
`)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Translate(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"caveat okay(n int, tags map<string>) {",
		"relation member: user | team#member",
		"relation editor_direct: user with okay",
		"permission editor = (editor_direct + owner)",
		"relation viewer_direct: user | user:*",
		"permission viewer = (viewer_direct + editor + parent->viewer)",
		"permission both = (owner & editor)",
		"permission allowed = (viewer - banned)",
		"permission grouped = ((owner + editor) & (viewer - banned))",
	} {
		if !strings.Contains(tr.Schema, want) {
			t.Errorf("translation lacks %q:\n%s", want, tr.Schema)
		}
	}
	// Tuples follow the same translation.
	r, err := tr.Relationship(Tuple{User: "user:anne", Relation: "viewer", Object: "doc:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tuple.Format(r); got != "doc:1#viewer_direct@user:anne" {
		t.Errorf("tuple = %s", got)
	}
	r, err = tr.Relationship(Tuple{User: "user:bo", Relation: "editor", Object: "doc:1", Condition: &TupleCondition{Name: "okay", Context: map[string]any{"n": 3.0}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Relation != "editor_direct" || r.Caveat == nil || r.Caveat.Name != "okay" {
		t.Errorf("conditional tuple = %s", tuple.Format(r))
	}
	for _, bad := range []struct {
		t    Tuple
		want string
	}{
		{Tuple{User: "user:anne", Relation: "both", Object: "doc:1"}, "not a relation tuples can be written to"},
		{Tuple{User: "team:core#member", Relation: "owner", Object: "doc:1"}, "does not allow team:core#member on doc#owner"},
		{Tuple{User: "user:*", Relation: "owner", Object: "doc:1"}, "does not allow user:*"},
		{Tuple{User: "user:bo", Relation: "editor", Object: "doc:1", Condition: &TupleCondition{Name: "other"}}, "does not allow"},
		{Tuple{User: "anne", Relation: "owner", Object: "doc:1"}, "TYPE:ID"},
		{Tuple{User: "user:anne", Relation: "owner", Object: "doc"}, "TYPE:ID"},
		{Tuple{User: "user:a b", Relation: "owner", Object: "doc:1"}, "id"},
	} {
		if _, err := tr.Relationship(bad.t); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: error %v, want one containing %q", bad.t, err, bad.want)
		}
	}
}

// What has no equivalent is reported precisely, all of it at once.
func TestProblems(t *testing.T) {
	for _, c := range []struct {
		model string
		want  []string
	}{
		{"model\n  schema 1.0\ntype user\n", []string{`schema "1.0"`}},
		{"model\n  schema 1.1\ntype u\ntype doc\n  relations\n    define viewer: [u]\n    define is: viewer\n",
			[]string{`type "u"`, `relation doc# "is"`}},
		{"model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [person]\n    define can_view: editor\n",
			[]string{"type person is not defined", "names editor, which type doc does not define"}},
		{"model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user with gone]\n",
			[]string{"condition gone is not defined"}},
		{"model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define owner: [user]\n    define parent: owner\n    define viewer: owner from parent\n",
			[]string{"follows parent, which has no directly written tuples"}},
		{"model\n  schema 1.1\ntype user-account\n", []string{`type "user-account"`}},
	} {
		m, err := ParseDSL(c.model)
		if err != nil {
			t.Fatalf("%q: %v", c.model, err)
		}
		_, err = Translate(m)
		probs, ok := err.(Problems)
		if !ok {
			t.Fatalf("%q: error %v, want Problems", c.model, err)
		}
		for _, w := range c.want {
			if !strings.Contains(probs.Error(), w) {
				t.Errorf("%q: problems %q lack %q", c.model, probs.Error(), w)
			}
		}
	}
}

func TestDSLErrors(t *testing.T) {
	for _, c := range []struct{ model, want string }{
		{"type user\n", "starts with \"model\""},
		{"model\n  schema 1.1\n  define x: [user]\n", "line 3: define outside"},
		{"model\n  schema 1.1\ntype doc\n  relations\n    define a: [user] or b and c\n", `"or" and "and" are mixed`},
		{"model\n  schema 1.1\ntype doc\n  relations\n    define a: b but not c or d\n", "use parentheses"},
		{"model\n  schema 1.1\ntype doc\n  relations\n    define a: (b or c\n", "( without )"},
		{"model\n  schema 1.1\ntype doc\n  relations\n    define a: [user\n", "[ without ]"},
		{"model\n  schema 1.1\ntype doc\n  relations\n    define a: [user]\n    define a: [user]\n", "defined twice"},
		{"model\n  schema 1.1\ncondition c(x: float) {\n  x\n}\n", `unknown type "float"`},
		{"model\n  schema 1.1\ncondition c(x: int) {\n  x > 1\n", "no closing }"},
		{"module drive\n", "modular models"},
		{"model\n  schema 1.1\ntype doc\n  relations\n    define a: b from\n", "needs a relation name"},
	} {
		_, err := ParseDSL(c.model)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.model, err, c.want)
		}
	}
}

func TestTupleFormats(t *testing.T) {
	want := []Tuple{
		{User: "user:anne", Relation: "viewer", Object: "doc:1"},
		{User: "team:core#member", Relation: "editor", Object: "doc:2", Condition: &TupleCondition{Name: "ok", Context: map[string]any{"n": 3.0}}},
	}
	files := map[string]string{
		"t.json":    `[{"user":"user:anne","relation":"viewer","object":"doc:1"},{"user":"team:core#member","relation":"editor","object":"doc:2","condition":{"name":"ok","context":{"n":3}}}]`,
		"api.json":  `{"tuple_keys":[{"user":"user:anne","relation":"viewer","object":"doc:1"},{"user":"team:core#member","relation":"editor","object":"doc:2","condition":{"name":"ok","context":{"n":3}}}]}`,
		"t.yaml":    "- user: user:anne\n  relation: viewer\n  object: doc:1\n- user: team:core#member\n  relation: editor\n  object: doc:2\n  condition:\n    name: ok\n    context: {n: 3.0}\n",
		"store.yml": "tuples:\n  - {user: user:anne, relation: viewer, object: \"doc:1\"}\n  - {user: \"team:core#member\", relation: editor, object: \"doc:2\", condition: {name: ok, context: {n: 3.0}}}\n",
		"t.csv":     "user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context\nuser,anne,,viewer,doc,1,,\nteam,core,member,editor,doc,2,ok,\"{\"\"n\"\": 3}\"\n",
	}
	for name, data := range files {
		got, err := ParseTuples(name, []byte(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
	for name, data := range map[string]string{
		"t.txt":    "x",
		"bad.csv":  "user,relation\nanne,viewer\n",
		"bad.json": `{"user":`,
		"ctx.csv":  "user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context\nuser,a,,viewer,doc,1,ok,{bad\n",
	} {
		if _, err := ParseTuples(name, []byte(data)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzParseDSL: any text parses into a model or an error naming a line, and a model
// that parses translates into a schema that compiles, or into Problems.
func FuzzParseDSL(f *testing.F) {
	f.Add(driveDSL)
	f.Add("model\n  schema 1.1\ntype doc\n  relations\n    define a: ([user] or b) but not (c and d from e)\ncondition c(x: list<map<int>>) {\n  x\n}\n")
	f.Add("model\n schema 1.1\ntype t\n relations\n  define r: [t#r with c, t:*]\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseDSL(text)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q names no line", err)
			}
			return
		}
		if _, err := Translate(m); err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("Translate: %v is not Problems", err)
			}
		}
	})
}

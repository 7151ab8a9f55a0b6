package validation

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestLoadKeepsLines(t *testing.T) {
	f, err := Load("testdata/lines.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Schema == nil || !f.Schema.Exact || f.Schema.LineOffset != 2 || !strings.HasPrefix(f.Schema.Text, "definition user {}") {
		t.Fatalf("schema source = %+v", f.Schema)
	}
	var rels []string
	for _, r := range f.Relationships {
		rels = append(rels, r.Text+"@"+itoa(r.Line))
	}
	if diff := cmp.Diff([]string{"document:a#viewer@user:tom@12", "document:b#viewer@user:*@15"}, rels); diff != "" {
		t.Errorf("relationship lines (-want +got):\n%s", diff)
	}
	if len(f.Assertions) != 2 {
		t.Fatalf("got %d assertions, want 2", len(f.Assertions))
	}
	a := f.Assertions[1]
	if a.Kind != AssertTrue || a.Line != 19 || a.Resource != (tuple.ObjectRef{Type: "document", ID: "b"}) ||
		a.Permission != "view" || a.Subject != (tuple.SubjectRef{Type: "user", ID: "sarah"}) {
		t.Errorf("assertion = %+v", a)
	}
	if n, ok := a.Context["k"].(json.Number); !ok || n.String() != "1.50" {
		t.Errorf("context number = %#v, want json.Number 1.50", a.Context["k"])
	}
	if len(f.Expected) != 3 {
		t.Fatalf("got %d expected relations, want 3", len(f.Expected))
	}
	b := f.Expected[1]
	if b.Line != 25 || b.Name() != "document:b#view" || len(b.Subjects) != 1 {
		t.Fatalf("expected relation = %+v", b)
	}
	s := b.Subjects[0]
	want := ExpectedSubject{
		Line: 26, Text: "[user:* - {user:x, user:y[...]}] is <document:b#viewer>",
		Subject: tuple.SubjectRef{Type: "user", ID: "*"},
		Excluded: []ExcludedSubject{
			{Subject: tuple.SubjectRef{Type: "user", ID: "x"}},
			{Subject: tuple.SubjectRef{Type: "user", ID: "y"}, Caveated: true},
		},
		Paths:      []ObjectRelation{{tuple.ObjectRef{Type: "document", ID: "b"}, "viewer"}},
		PathsGiven: true,
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("expected subject (-want +got):\n%s", diff)
	}
	if got := s.SubjectText(); got != "user:* - {user:x, user:y[...]}" {
		t.Errorf("SubjectText = %q", got)
	}
	if len(f.Expected[2].Subjects) != 0 {
		t.Errorf("empty list parsed as %+v", f.Expected[2].Subjects)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestParseErrors(t *testing.T) {
	zed := fstest.MapFS{"s.zed": {Data: []byte("definition user {}")}, "sub/t.zed": {Data: []byte("definition user {}")}}
	cases := []struct {
		name, in string
		want     string // "line: message part"
	}{
		{"empty", "", "the file is empty"},
		{"not a mapping", "- a\n- b\n", "1: the top level must be a mapping"},
		{"bad yaml", "schema: |\n  x\n bad: [", "not valid YAML"},
		{"two documents", "schema: x\n---\nschema: y\n", "more than one YAML document"},
		{"unknown key", "schema: x\nrelationship: y\n", "2: unknown key `relationship`"},
		{"duplicate key", "schema: x\nschema: y\n", "2: key `schema` is given twice (first on line 1)"},
		{"legacy namespace_configs", "namespace_configs: []\n", "1: `namespace_configs` is a key of the old file format"},
		{"legacy validation_tuples", "validation_tuples:\n  - foo\n", "1: `validation_tuples` is a key of the old file format"},
		{"both schema keys", "schema: x\nschemaFile: s.zed\n", "2: both `schema` and `schemaFile` are given"},
		{"schemaFile leaves dir", "schemaFile: ../s.zed\n", "1: schemaFile \"../s.zed\" leaves the validation file's directory"},
		{"schemaFile sneaky", "schemaFile: sub/../../s.zed\n", "leaves the validation file's directory"},
		{"schemaFile absolute", "schemaFile: /etc/passwd\n", "is an absolute path"},
		{"schemaFile missing", "schemaFile: nope.zed\n", "1: schemaFile \"nope.zed\" cannot be read: "},
		{"schema not string", "schema: [a]\n", "1: `schema` must be a string"},
		{"relationships list", "relationships:\n  - a\n", "2: `relationships` must be a string"},
		{"bad relationship", "relationships: |\n  document:a#viewer@user:tom\n  document:a#viewer\n", "3: invalid relationship \"document:a#viewer\": missing @"},
		{"repeated", "relationships: |\n  document:a#viewer@user:tom\n  // x\n  document:a#viewer@user:tom[cav]\n", "4: relationship document:a#viewer@user:tom is repeated: it is also on line 2"},
		{"assertions list", "assertions:\n  - a\n", "2: `assertions` must be a mapping"},
		{"unknown assertion list", "assertions:\n  assertMaybe: []\n", "2: unknown assertion list `assertMaybe`"},
		{"assertion not list", "assertions:\n  assertTrue: x\n", "2: `assertTrue` must be a list of strings"},
		{"assertion with caveat", "assertions:\n  assertTrue:\n    - document:a#view@user:tom[cav]\n", "3: assertTrue entry \"document:a#view@user:tom[cav]\": an assertion cannot carry a caveat"},
		{"assertion with expiry", "assertions:\n  assertFalse:\n    - document:a#view@user:tom[expiration:2030-01-01T00:00:00Z]\n", "3: assertFalse entry"},
		{"assertion bad context", "assertions:\n  assertTrue:\n    - 'document:a#view@user:tom with {nope'\n", "3: assertTrue entry \"document:a#view@user:tom with {nope\": caveat context after ` with `: not a JSON object"},
		{"assertion context not object", "assertions:\n  assertTrue:\n    - 'document:a#view@user:tom with [1]'\n", "not a JSON object"},
		{"assertion trailing", "assertions:\n  assertTrue:\n    - 'document:a#view@user:tom with {} {}'\n", "unexpected text after the JSON object"},
		{"validation not map", "validation: [a]\n", "1: `validation` must be a mapping"},
		{"validation bad key", "validation:\n  document:a: []\n", "2: validation key \"document:a\": missing #relation"},
		{"validation no bracket", "validation:\n  document:a#view:\n    - user:tom is <document:a#viewer>\n", "3: expected subject \"user:tom is <document:a#viewer>\": must start with [subject]"},
		{"validation unclosed", "validation:\n  document:a#view:\n    - '[user:tom is <document:a#viewer>'\n", "the [ before the subject is not closed"},
		{"validation bad is", "validation:\n  document:a#view:\n    - '[user:tom] was <document:a#viewer>'\n", "expected \" is <type:id#relation>\""},
		{"validation bad path", "validation:\n  document:a#view:\n    - '[user:tom] is document:a#viewer'\n", "must be written <type:id#relation>"},
		{"validation path no rel", "validation:\n  document:a#view:\n    - '[user:tom] is <document:a>'\n", "relation <document:a>: missing #relation"},
		{"validation exclusion on non-wildcard", "validation:\n  document:a#view:\n    - '[user:tom - {user:x}]'\n", "only a wildcard subject"},
		{"validation duplicate subject", "validation:\n  document:a#view:\n    - '[user:tom]'\n    - '[user:tom[...]] is <document:a#viewer>'\n", "4: subject user:tom is listed twice for document:a#view (first on line 3)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.in), zed)
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	zed := fstest.MapFS{"s.zed": {Data: []byte("definition user {}\n")}, "sub/t.zed": {Data: []byte("x")}}
	cases := []struct{ name, in string }{
		{"schemaFile local", "schemaFile: ./s.zed\n"},
		{"schemaFile in subdir", "schemaFile: sub/../sub/t.zed\n"},
		{"null sections", "schema: null\nrelationships: null\nassertions: null\nvalidation: null\n"},
		{"quoted relationships", "relationships: \"document:a#viewer@user:tom\"\n"},
		{"leading document marker", "---\nschema: x\n"},
		{"expected without paths", "validation:\n  document:a#view:\n    - '[user:tom]'\n"},
		{"expected subject set", "validation:\n  document:a#view:\n    - '[group:g#member[...]] is <document:a#viewer>/<group:h#member>'\n"},
		{"assertion subject ellipsis", "assertions:\n  assertTrue:\n    - 'document:a#view@user:tom#...'\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse("f.yaml", []byte(c.in), zed); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSchemaFileSource(t *testing.T) {
	zed := fstest.MapFS{"s.zed": {Data: []byte("definition user {}\n")}}
	f, err := Parse("dir/f.yaml", []byte("schemaFile: ./s.zed\n"), zed)
	if err != nil {
		t.Fatal(err)
	}
	if f.Schema.File != "dir/s.zed" || !f.Schema.Exact || f.Schema.LineOffset != 0 || f.Schema.Text != "definition user {}\n" {
		t.Errorf("schema source = %+v", f.Schema)
	}
}

func TestQuotedRelationshipLine(t *testing.T) {
	f, err := Parse("f.yaml", []byte("schema: x\n\nrelationships: \"document:a#viewer@user:tom\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Relationships) != 1 || f.Relationships[0].Line != 3 {
		t.Errorf("relationships = %+v", f.Relationships)
	}
}

package validation

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const loaderDir = "../testdata/conformance/spicedb/validationfile"

// TestLoaderCorpus runs the corpus's loader tests: which files must load, alone or
// together, and which must be refused, with the reason.
func TestLoaderCorpus(t *testing.T) {
	cases := []struct {
		files   []string
		wantErr string // "" when the data set must load
	}{
		{[]string{"basic_caveats.yaml"}, ""},
		{[]string{"caveat_order.yaml"}, ""},
		{[]string{"initial_schema_and_rels.yaml"}, ""},
		{[]string{"loader_no_comment.yaml"}, ""},
		{[]string{"loader_with_comment.yaml"}, ""},
		{[]string{"requires_chunking.yaml"}, ""},
		{[]string{"initial_schema_and_rels.yaml", "just_rels.yaml"}, ""},
		{[]string{"just_rels.yaml", "initial_schema_and_rels.yaml"}, ""},
		{[]string{"just_rels.yaml"}, "just_rels.yaml:3: relationship example/project:pied_piper#owner@example/user:fred: definition `example/project` not found"},
		{[]string{"invalid_caveat.yaml"}, "invalid_caveat.yaml: schema line 3, column 32: caveat `some_caveat` not found"},
		{[]string{"invalid_caveated_rel.yaml"}, "invalid_caveated_rel.yaml:13: relationship resource:first#reader@user:tom[some_caveat]: caveat `some_caveat` is not allowed"},
		{[]string{"invalid_caveated_rel_syntax.yaml"}, "invalid_caveated_rel_syntax.yaml:15: invalid relationship"},
		{[]string{"repeated_relationship.yaml"}, "repeated_relationship.yaml:15: relationship resource:first#reader@user:tom is repeated: it is also on line 13"},
		{[]string{"schema_and_schemafile.yaml"}, "both `schema` and `schemaFile` are given"},
		{[]string{"legacy.yaml"}, "legacy.yaml:2: `validation_tuples` is a key of the old file format"},
		{[]string{"loader_using_non-local_schemafile.yaml"}, "leaves the validation file's directory"},
		{[]string{"loader_using_missing_schemafile.yaml"}, "schemaFile \"./non_existant_schemafile.zed\" cannot be read"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.files, "+"), func(t *testing.T) {
			var files []*File
			var err error
			for _, name := range c.files {
				var f *File
				if f, err = Load(filepath.Join(loaderDir, name)); err != nil {
					break
				}
				files = append(files, f)
			}
			if err == nil {
				_, err = Build(files...)
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("must load, got: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("must be refused with %q, but it loaded", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("error = %q\nwant it to contain %q", err, c.wantErr)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	schemaFS := fstest.MapFS{"s.zed": {Data: []byte("definition user {}\n\ndefinition document {\n  relation viewer: usr\n}\n")}}
	cases := []struct {
		name  string
		files []string
		want  string
	}{
		{"schema error in literal block maps to the file line and column", []string{
			"schema: |-\n  definition user {}\n  definition document {\n    relation viewer: usr\n  }\n"},
			"a.yaml:4:22: schema: "},
		{"schema error in schema file", []string{"schemaFile: s.zed\n"}, "s.zed:4:20: schema: "},
		{"schema errors in joined schemas map to their file", []string{
			"schema: |-\n  definition user {}\n",
			"schema: |-\n  definition document {\n    relation viewer: usr\n  }\n"},
			"b.yaml:3:22: schema: "},
		{"repeated across files", []string{
			"schema: |-\n  definition user {}\n  definition document {\n    relation viewer: user\n  }\nrelationships: |-\n  document:a#viewer@user:tom\n",
			"relationships: |-\n  document:a#viewer@user:tom\n"},
			"b.yaml:2: relationship document:a#viewer@user:tom is repeated: it is also at a.yaml:7"},
		{"assertion on unknown permission", []string{
			"schema: |-\n  definition user {}\n  definition document {\n    relation viewer: user\n  }\nassertions:\n  assertTrue:\n    - document:a#view@user:tom\n"},
			"a.yaml:8: assertTrue document:a#view@user:tom: permission or relation `view` not found on definition `document` (did you mean `viewer`?)"},
		{"assertion on unknown subject type", []string{
			"schema: |-\n  definition user {}\n  definition document {\n    relation viewer: user\n  }\nassertions:\n  assertFalse:\n    - document:a#viewer@usr:tom\n"},
			"a.yaml:8: assertFalse document:a#viewer@usr:tom: subject type `usr`"},
		{"validation key on unknown relation", []string{
			"schema: |-\n  definition user {}\n  definition document {\n    relation viewer: user\n  }\nvalidation:\n  document:a#view: []\n"},
			"a.yaml:7: validation key document:a#view: permission or relation `view` not found on definition `document`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var files []*File
			for i, text := range c.files {
				f, err := Parse(string(rune('a'+i))+".yaml", []byte(text), schemaFS)
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
			_, err := Build(files...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

package validation

import (
	"strings"
	"testing"
	"testing/fstest"
)

const loaderDir = "../testdata/conformance/spicedb/validationfile"

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

package validation

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseFile feeds arbitrary bytes to the validation-file parser and, for what
// parses, to Build, which compiles the schema and checks the relationships and
// assertions against it. Neither may panic or hang; every error names a line inside
// the file.
func FuzzParseFile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	corpus, _ := filepath.Glob("../testdata/conformance/spicedb/validationfile/*.yaml")
	for _, p := range append(seeds, corpus...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("schema: |\n  definition user {}\nrelationships: ''\nassertions:\n  assertTrue: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data, nil)
		if err != nil {
			checkLines(t, err, data)
			return
		}
		if _, err := Build(file); err != nil {
			checkLines(t, err, data)
		}
	})
}

// checkLines fails unless err is an ErrorList whose lines lie inside data.
func checkLines(t *testing.T, err error, data []byte) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		return // an error about the whole file, such as "no validation files given"
	}
	lines := strings.Count(string(data), "\n") + 1
	for _, e := range list {
		if e.Line < 0 || e.Line > lines {
			t.Fatalf("error at line %d of a %d-line file: %v", e.Line, lines, e)
		}
		_ = e.Error()
	}
}

package schema

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const corpusDir = "../testdata/conformance/spicedb"

// corpusSchema is one schema taken from the public conformance corpus.
type corpusSchema struct {
	Path   string // relative to corpusDir
	Schema string
}

// corpusSchemas extracts the `schema:` key of every validation file in the corpus
// folders that hold schemas (top level, misc/, steelthread/testdata/,
// zed-schemaexamples/, validationfile/). Files without a schema key are skipped;
// self.yaml.skip is left out because it uses `use self`, a documented divergence.
func corpusSchemas(t testing.TB) []corpusSchema {
	t.Helper()
	var out []corpusSchema
	for _, dir := range []string{".", "misc", "steelthread/testdata", "zed-schemaexamples", "validationfile"} {
		files, err := filepath.Glob(filepath.Join(corpusDir, dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Schema *string `yaml:"schema"`
			}
			if err := yaml.Unmarshal(data, &doc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc.Schema == nil {
				continue
			}
			rel, _ := filepath.Rel(corpusDir, f)
			out = append(out, corpusSchema{Path: rel, Schema: *doc.Schema})
		}
	}
	if len(out) < 90 {
		t.Fatalf("found only %d corpus schemas; is the corpus missing?", len(out))
	}
	return out
}

// corpusMustFail lists corpus schemas that are meant to be rejected, with the
// message fragment their error must contain.
var corpusMustFail = map[string]string{
	"validationfile/invalid_caveat.yaml": "caveat `some_caveat` not found (used by relation `reader`)",
}

func TestCorpusCompiles(t *testing.T) {
	compiled := 0
	for _, cs := range corpusSchemas(t) {
		s, err := Compile(cs.Path, cs.Schema)
		if want, ok := corpusMustFail[cs.Path]; ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: want an error containing %q, got %v", cs.Path, want, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s does not compile:\n%v", cs.Path, err)
			continue
		}
		if len(s.Definitions) == 0 {
			t.Errorf("%s compiled to no definitions", cs.Path)
		}
		compiled++
	}
	t.Logf("compiled %d corpus schemas", compiled)
}

// TestCorpusUseSelfDivergence pins the one deliberate divergence in the corpus:
// `use self` (self.yaml.skip) is refused with a message that says so.
func TestCorpusUseSelfDivergence(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(corpusDir, "self.yaml.skip"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema string `yaml:"schema"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	_, err = Compile("self.yaml.skip", doc.Schema)
	if err == nil || !strings.Contains(err.Error(), "`use self` is not supported by Pemba") {
		t.Errorf("got %v", err)
	}
}

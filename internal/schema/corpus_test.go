package schema

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
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

// TestCorpusRelationshipsValidate checks every relationship of the corpus against its
// schema with ValidateRelationship: all must pass except in the files meant to be
// rejected for their relationships.
func TestCorpusRelationshipsValidate(t *testing.T) {
	mustReject := map[string]string{
		"validationfile/invalid_caveated_rel.yaml": "is not allowed on",
		// Meant to fail for repeating a relationship; its second line also lacks the
		// caveat the relation requires.
		"validationfile/repeated_relationship.yaml": "require a caveat",
	}
	checked := 0
	for _, dir := range []string{".", "misc", "steelthread/testdata", "zed-schemaexamples", "validationfile"} {
		files, _ := filepath.Glob(filepath.Join(corpusDir, dir, "*.yaml"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Schema        *string `yaml:"schema"`
				Relationships string  `yaml:"relationships"`
			}
			if err := yaml.Unmarshal(data, &doc); err != nil || doc.Schema == nil {
				continue
			}
			rel, _ := filepath.Rel(corpusDir, f)
			s, err := Compile(rel, *doc.Schema)
			if err != nil {
				continue // the must-fail schemas
			}
			var failures []string
			for _, line := range strings.Split(doc.Relationships, "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "//") {
					continue
				}
				r, err := tuple.Parse(line)
				if err != nil {
					failures = append(failures, err.Error())
					continue
				}
				checked++
				if err := s.ValidateRelationship(r); err != nil {
					failures = append(failures, line+": "+err.Error())
				}
			}
			want, reject := mustReject[rel]
			switch {
			case reject && (len(failures) == 0 || !strings.Contains(strings.Join(failures, "\n"), want)):
				t.Errorf("%s: want a rejection containing %q, got %v", rel, want, failures)
			case !reject && rel != "validationfile/invalid_caveated_rel_syntax.yaml" && len(failures) > 0:
				t.Errorf("%s: %d relationships rejected, first: %s", rel, len(failures), failures[0])
			}
		}
	}
	t.Logf("validated %d corpus relationships", checked)
}

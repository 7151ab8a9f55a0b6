package validation

import (
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// corpusDir is the public corpus of validation files.
const corpusDir = "../testdata/conformance/spicedb"

// corpusAssertionFiles lists the corpus files that carry assertions and load: the
// top-level files (the upstream consistency suite) and the schema examples.
func corpusAssertionFiles(t *testing.T) []string {
	t.Helper()
	top, err := filepath.Glob(filepath.Join(corpusDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob(filepath.Join(corpusDir, "zed-schemaexamples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return append(top, examples...)
}

// TestReferenceEvaluatorOnCorpus validates the reference evaluator itself: every
// assertion of the corpus must come out as the file says.
func TestReferenceEvaluatorOnCorpus(t *testing.T) {
	files, passed, expected := 0, 0, 0
	for _, path := range corpusAssertionFiles(t) {
		f, err := Load(path)
		if err != nil {
			if filepath.Base(path) == "google-iam.yaml" {
				continue // refused by design: it repeats a relationship (see the conformance test)
			}
			t.Errorf("%v", err)
			continue
		}
		ds, err := Build(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		ref, err := newRefEval(ds.Schema, ds.Relationships, time.Now())
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		files++
		for _, a := range f.Assertions {
			got, err := ref.check(a.Resource, a.Permission, a.Subject, a.Context)
			if err != nil {
				t.Errorf("%s:%d: %s: %v", a.File, a.Line, a.Text, err)
				continue
			}
			want := map[AssertionKind]triState{AssertTrue: triTrue, AssertFalse: triFalse, AssertCaveated: triCond}[a.Kind]
			if got.state != want {
				t.Errorf("%s:%d: %s %s: reference says %s", a.File, a.Line, a.Kind, a.Text, got)
				continue
			}
			passed++
		}
		for _, e := range f.Expected {
			if referenceAgreesWithExpected(t, ref, e) {
				expected++
			}
		}
	}
	t.Logf("reference evaluator: %d files; %d assertions and the plain subjects of %d expected relations agree with the corpus", files, passed, expected)
}

// referenceAgreesWithExpected compares the plain subjects (objects, not subject sets
// or wildcards) an expected relation lists with those the reference evaluator grants
// among the objects of the data. Subject sets are left out on purpose: a check of a
// subject set is also true through arrows (a set is a member of itself), while the
// validation block lists only sets found on relationships.
func referenceAgreesWithExpected(t *testing.T, ref *refEval, e ExpectedRelation) bool {
	t.Helper()
	want := map[string]bool{} // subject -> caveated
	for _, s := range e.Subjects {
		if s.Subject.Relation == "" && !s.Subject.IsWildcard() {
			want[s.Subject.String()] = s.Caveated
		}
	}
	got := map[string]bool{}
	for typ, ids := range ref.universe {
		for _, id := range ids {
			sub := tuple.SubjectRef{Type: typ, ID: id}
			v, err := ref.check(e.Resource, e.Permission, sub, nil)
			if err != nil {
				t.Errorf("%s:%d: %v", e.File, e.Line, err)
				return false
			}
			if v.state != triFalse {
				got[sub.String()] = v.state == triCond
			}
		}
	}
	if !maps.Equal(want, got) {
		t.Errorf("%s:%d: %s: listed plain subjects %v, reference grants %v", e.File, e.Line, e.Name(), want, got)
		return false
	}
	return true
}

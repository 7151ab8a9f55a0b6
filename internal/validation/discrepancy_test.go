package validation

// Known engine discrepancies: the smallest cases found where the engine disagrees
// with the reference evaluator. Each test fails until the engine is fixed, and
// docs/validate.md describes it under "Known engine discrepancies". When one is
// fixed, its test stays as a regression test.

import (
	"context"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestEngineDiscrepancyExplainCachedBranch: with the result cache on, an explained
// check of view = viewer + viewer (tom is a viewer) sometimes shows one of the two
// viewer branches as "denied [cached]" while the union above it is allowed: the
// explanation contradicts itself and the data. The answer itself stays right. It
// shows within a few hundred checks on a fresh engine, so the test runs many.
func TestEngineDiscrepancyExplainCachedBranch(t *testing.T) {
	f, err := Load("testdata/discrepancies/explain-cached-branch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Build(f)
	if err != nil {
		t.Fatal(err)
	}
	store, rev, err := ds.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ref, err := newRefEval(ds.Schema, ds.Relationships, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := f.Assertions[0]
	truth := func(o tuple.ObjectRef, rel string) tri {
		v, err := ref.check(o, rel, a.Subject, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for run := 0; run < 100; run++ {
		eng := engine.New(store, engine.Config{})
		for i := 0; i < 200; i++ {
			res, err := eng.Check(context.Background(), engine.CheckRequest{Revision: rev, Resource: a.Resource, Permission: a.Permission, Subject: a.Subject, Explain: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Permissionship != engine.HasPermission {
				t.Fatalf("engine %d, check %d: answer %s, want allowed", run, i, res.Permissionship)
			}
			if problems, _ := untruthfulNodes(t, res.Explanation, truth); len(problems) > 0 {
				t.Fatalf("engine %d, check %d: %s\n%s", run, i, problems[0], explainText(res.Explanation))
			}
		}
	}
}

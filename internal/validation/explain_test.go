package validation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestPropertyExplainIsTruthful checks the explanation trees of random checks: every
// relation or permission node states the value that relation or permission really has
// for the subject (the reference evaluator's), unless the node sits above a cycle cut,
// where the engine shows the value it computed with the cycle cut off. The engine
// runs concurrently without its result cache: explanations of cached branches are
// pinned by TestEngineDiscrepancyExplainCachedBranch until that is fixed.
func TestPropertyExplainIsTruthful(t *testing.T) {
	seed := baseSeed(t)
	worlds := max(1, *flagCases/200)
	nodes, reported := 0, 0
	for i := 0; i < worlds && reported < maxReported; i++ {
		caseSeed := seed + uint64(i)
		r := rand.New(rand.NewPCG(caseSeed, caseSeed^0x5851f42d4c957f2d))
		lw, ref := newLiveWorld(t, r)
		explainer := engine.New(lw.store, engine.Config{CacheSize: -1})
		answers := &refAnswers{ref: ref, tables: map[string]map[pairKey]tri{}}
		for _, c := range genChecks(r, lw.w, 10) {
			req := checkRequest(lw.rev, c)
			req.Explain = true
			res, err := explainer.Check(context.Background(), req)
			if err != nil {
				t.Fatalf("seed %d: %s: %v", caseSeed, c, err)
			}
			problems, n := untruthfulNodes(t, res.Explanation, func(o tuple.ObjectRef, rel string) tri {
				want, err := answers.answer(genCheck{resource: o, permission: rel, subject: c.subject, ctx: c.ctx})
				if err != nil {
					t.Fatal(err)
				}
				return want
			})
			nodes += n
			if len(problems) > 0 {
				reported++
				t.Errorf("seed %d: explanation of %s (answer %s):\n  %s\ntree:\n%s\nschema:\n%s\nrelationships:\n%s",
					caseSeed, c, res.Permissionship, problems[0], explainText(res.Explanation), lw.w.schemaText, relLines(lw.rels))
				break
			}
		}
	}
	t.Logf("%d explanation nodes checked", nodes)
}

// untruthfulNodes lists the relation and permission nodes of an explanation whose
// result differs from truth(resource, relation), leaving out nodes above a cycle cut.
func untruthfulNodes(t *testing.T, root *engine.ExplainNode, truth func(tuple.ObjectRef, string) tri) (problems []string, checked int) {
	t.Helper()
	walkExplain(root, func(n *engine.ExplainNode) {
		if (n.Kind != "relation" && n.Kind != "permission") || n.Resource == (tuple.ObjectRef{}) || hasCycle(n) {
			return
		}
		checked++
		want := truth(n.Resource, n.Relation)
		if state := map[engine.Permissionship]triState{engine.NoPermission: triFalse, engine.HasPermission: triTrue, engine.Conditional: triCond}[n.Result]; state != want.state {
			problems = append(problems, fmt.Sprintf("node %s %s#%s says %s, its value is %s", n.Kind, n.Resource, n.Relation, n.Result, want))
		}
	})
	return problems, checked
}

func walkExplain(n *engine.ExplainNode, fn func(*engine.ExplainNode)) {
	if n == nil {
		return
	}
	fn(n)
	for _, c := range n.Children {
		walkExplain(c, fn)
	}
}

func hasCycle(n *engine.ExplainNode) bool {
	if n.Kind == "cycle" {
		return true
	}
	for _, c := range n.Children {
		if hasCycle(c) {
			return true
		}
	}
	return false
}

func explainText(n *engine.ExplainNode) string {
	b := new(strings.Builder)
	lines := 0
	explainJSON(n).writeTree(b, "  ", "", &lines)
	return b.String()
}

// TestExplainShowsNoCancelledBranch pins a fixed engine discrepancy: when a union
// was evaluated with concurrency, the branch cancelled after the other one granted
// stayed in the explanation with the value it had when cancelled ("denied"), so the
// tree said tom was not a viewer although he is.
func TestExplainShowsNoCancelledBranch(t *testing.T) {
	f, err := Load("testdata/discrepancies/explain-cancelled-branch.yaml")
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
	eng := engine.New(store, engine.Config{CacheSize: -1})
	for i := 0; i < 50; i++ {
		res, err := eng.Check(context.Background(), engine.CheckRequest{Revision: rev, Resource: a.Resource, Permission: a.Permission, Subject: a.Subject, Explain: true})
		if err != nil {
			t.Fatal(err)
		}
		walkExplain(res.Explanation, func(n *engine.ExplainNode) {
			if n.Kind != "relation" && n.Kind != "permission" {
				return
			}
			want, err := ref.check(n.Resource, n.Relation, a.Subject, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want.state == triTrue && n.Result != engine.HasPermission {
				t.Fatalf("run %d: the explanation says %s %s#%s is %s for %s, but it is allowed:\n%s",
					i, n.Kind, n.Resource, n.Relation, n.Result, a.Subject, explainText(res.Explanation))
			}
		})
	}
}

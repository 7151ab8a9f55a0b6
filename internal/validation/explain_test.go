package validation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestPropertyExplainIsTruthful checks the explanation trees of random checks: every
// relation or permission node states the value that relation or permission really has
// for the subject (the reference evaluator's), unless the node sits above a cycle cut,
// where the engine shows the value it computed with the cycle cut off. The engine
// runs sequentially and without its result cache: with concurrency, branches cut
// short by a union or exclusion, and with the cache, cached branches, are sometimes
// shown with a wrong value; TestEngineDiscrepancyExplainCancelledBranch and
// TestEngineDiscrepancyExplainCachedBranch pin those until they are fixed.
func TestPropertyExplainIsTruthful(t *testing.T) {
	seed := baseSeed(t)
	worlds := max(1, *flagCases/200)
	nodes, reported := 0, 0
	for i := 0; i < worlds && reported < maxReported; i++ {
		caseSeed := seed + uint64(i)
		r := rand.New(rand.NewPCG(caseSeed, caseSeed^0x5851f42d4c957f2d))
		lw, ref := newLiveWorld(t, r)
		explainer := engine.New(lw.store, engine.Config{CacheSize: -1, MaxConcurrency: 1})
		answers := newRefAnswers(ref)
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
		if (n.Kind != engine.NodeRelation && n.Kind != engine.NodePermission) || n.Resource == (tuple.ObjectRef{}) || hasCycle(n) {
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
	if n.Kind == engine.NodeCycle {
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
	writeExplainTree(b, explainNode(n), "  ", "", &lines)
	return b.String()
}

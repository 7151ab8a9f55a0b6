package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSubjectSetAlgebra checks the wildcard-aware set operations of LookupSubjects
// against their definition: for every subject, the answer of a combined set is the
// operator applied to the answers of the operands (including subjects no set lists,
// which only wildcards cover).
func TestSubjectSetAlgebra(t *testing.T) {
	answers := []result{noResult(), yesResult(), {perm: Conditional, missing: []string{"x"}, cut: noCut}}
	ids := []string{"a", "b", "c", "unlisted"}
	random := func(r *rand.Rand) *subjectSet {
		s := newSubjectSet()
		if r.IntN(2) == 0 {
			w := answers[r.IntN(3)]
			if !w.no() {
				s.wild = &w
			}
		}
		for _, id := range ids[:3] {
			if r.IntN(2) == 0 {
				a := answers[r.IntN(3)]
				if a.no() && s.wild == nil {
					continue
				}
				s.concrete[id] = a
			}
		}
		return s
	}
	show := func(r result) string { return answer(CheckResult{Permissionship: r.perm, MissingContext: r.missing}) }
	r := rand.New(rand.NewPCG(1, 2))
	kinds := map[string]NodeKind{"union": NodeUnion, "intersection": NodeIntersection, "exclusion": NodeExclusion}
	for i := range 2000 {
		a, b := random(r), random(r)
		for _, op := range []string{"union", "intersection", "exclusion", "union-in-place"} {
			var got *subjectSet
			if op == "union-in-place" {
				got = newSubjectSet()
				unionInto(got, a)
				unionInto(got, b)
			} else {
				got = combineSets(a, b, kinds[op])
			}
			for _, id := range ids {
				x, y := a.status(id), b.status(id)
				var want result
				switch op {
				case "union", "union-in-place":
					want = or(x, y)
				case "intersection":
					want = and(x, y)
				default:
					want = and(x, not(y))
				}
				if g := got.status(id); show(g) != show(want) {
					t.Fatalf("case %d: %s of %v and %v: %s is %s, want %s", i, op, describeSet(a), describeSet(b), id, show(g), show(want))
				}
			}
		}
		via := answers[r.IntN(3)]
		got := restrict(a, via)
		for _, id := range ids {
			if g, want := got.status(id), and(via, a.status(id)); show(g) != show(want) {
				t.Fatalf("case %d: restrict %v by %s: %s is %s, want %s", i, describeSet(a), show(via), id, show(g), show(want))
			}
		}
	}
}

func describeSet(s *subjectSet) string {
	out := "{"
	if s.wild != nil {
		out += fmt.Sprintf("*:%v ", s.wild.perm)
	}
	for id, r := range s.concrete {
		out += fmt.Sprintf("%s:%v ", id, r.perm)
	}
	return out + "}"
}

package validation

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// foundSubject is one subject that reaches a permission, as computed from Expand
// trees: whether it does so only under a caveat, which subjects a wildcard leaves
// out, and the object relations on which it was found directly.
type foundSubject struct {
	subject  tuple.SubjectRef
	caveated bool
	// excluded maps the subjects a wildcard does not cover to whether that exclusion
	// holds only under a caveat.
	excluded map[tuple.SubjectRef]bool
	paths    map[ObjectRelation]bool
}

func (f *foundSubject) clone() *foundSubject {
	return &foundSubject{subject: f.subject, caveated: f.caveated, excluded: maps.Clone(f.excluded), paths: maps.Clone(f.paths)}
}

func (f *foundSubject) equal(o *foundSubject) bool {
	return f.subject == o.subject && f.caveated == o.caveated && maps.Equal(f.excluded, o.excluded) && maps.Equal(f.paths, o.paths)
}

func (f *foundSubject) excludedList() []ExcludedSubject {
	out := make([]ExcludedSubject, 0, len(f.excluded))
	for s, c := range f.excluded {
		out = append(out, ExcludedSubject{Subject: s, Caveated: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subject.String() < out[j].Subject.String() })
	return out
}

func (f *foundSubject) pathList() []string {
	out := make([]string, 0, len(f.paths))
	for p := range f.paths {
		out = append(out, p.String())
	}
	sort.Strings(out)
	return out
}

// String renders the subject as an expected-subject entry, so a user can paste a
// reported extra subject into the file.
func (f *foundSubject) String() string {
	var b strings.Builder
	b.WriteString("[")
	b.WriteString(subjectText(f.subject, f.caveated, f.excludedList()))
	b.WriteString("]")
	if paths := f.pathList(); len(paths) > 0 {
		b.WriteString(" is <")
		b.WriteString(strings.Join(paths, ">/<"))
		b.WriteString(">")
	}
	return b.String()
}

// subjectSet is a set of found subjects keyed by subject.
type subjectSet map[tuple.SubjectRef]*foundSubject

func (s subjectSet) equal(o subjectSet) bool {
	return maps.EqualFunc(s, o, func(a, b *foundSubject) bool { return a.equal(b) })
}

// wildcardOf returns the wildcard entry that covers a plain subject of typ, if any.
func (s subjectSet) wildcardOf(typ string) *foundSubject {
	return s[tuple.SubjectRef{Type: typ, ID: tuple.Wildcard}]
}

// coveredBy reports how a wildcard covers subject x: not at all (a subject set, or
// excluded without condition), or with the returned caveat flag.
func coveredBy(w *foundSubject, x tuple.SubjectRef) (covered, caveated bool) {
	if w == nil || x.Relation != "" || x.IsWildcard() {
		return false, false
	}
	exclCaveated, excluded := w.excluded[x]
	if excluded && !exclCaveated {
		return false, false
	}
	return true, w.caveated || excluded
}

// add merges f into s as a union member.
func (s subjectSet) add(f *foundSubject) {
	cur, ok := s[f.subject]
	if !ok {
		s[f.subject] = f.clone()
		return
	}
	cur.caveated = cur.caveated && f.caveated
	for p := range f.paths {
		cur.paths[p] = true
	}
	if f.subject.IsWildcard() {
		// A subject is left out of a union only if both sides leave it out.
		excl := map[tuple.SubjectRef]bool{}
		for x, c := range cur.excluded {
			if oc, ok := f.excluded[x]; ok {
				excl[x] = c || oc
			}
		}
		cur.excluded = excl
	}
}

func union(sets ...subjectSet) subjectSet {
	out := subjectSet{}
	for _, s := range sets {
		for _, f := range s {
			out.add(f)
		}
	}
	// A wildcard no longer leaves out a subject the union holds without condition.
	for _, f := range out {
		if !f.subject.IsWildcard() {
			continue
		}
		for x := range f.excluded {
			if m, ok := out[x]; ok && !m.caveated {
				delete(f.excluded, x)
			}
		}
	}
	return out
}

func intersect(a, b subjectSet) subjectSet {
	out := subjectSet{}
	for k, fa := range a {
		if fb, ok := b[k]; ok {
			m := fa.clone()
			m.caveated = fa.caveated || fb.caveated
			for p := range fb.paths {
				m.paths[p] = true
			}
			if k.IsWildcard() {
				for x, c := range fb.excluded {
					if oc, ok := m.excluded[x]; ok {
						m.excluded[x] = c && oc
					} else {
						m.excluded[x] = c
					}
				}
			}
			out[k] = m
			continue
		}
		// A concrete subject on one side meets the other side's wildcard. The wildcard
		// does not reach the subject directly, so only the concrete side's relations
		// are where it was found.
		if covered, c := coveredBy(b.wildcardOf(k.Type), k); covered {
			m := fa.clone()
			m.caveated = fa.caveated || c
			out[k] = m
		}
	}
	for k, fb := range b {
		if _, done := out[k]; done {
			continue
		}
		if _, inA := a[k]; inA {
			continue
		}
		if covered, c := coveredBy(a.wildcardOf(k.Type), k); covered {
			m := fb.clone()
			m.caveated = fb.caveated || c
			out[k] = m
		}
	}
	return out
}

func subtract(a, b subjectSet) subjectSet {
	out := subjectSet{}
	for k, fa := range a {
		m := fa.clone()
		if k.IsWildcard() {
			if wb := b[k]; wb != nil {
				if !wb.caveated && len(wb.excluded) == 0 {
					continue // everything is taken away
				}
				m.caveated = true
			}
			for x, fb := range b {
				if x.Type == k.Type && x.Relation == "" && !x.IsWildcard() {
					m.excluded[x] = fb.caveated
				}
			}
			out[k] = m
			continue
		}
		if fb, ok := b[k]; ok {
			if !fb.caveated {
				continue
			}
			m.caveated = true
		}
		if covered, c := coveredBy(b.wildcardOf(k.Type), k); covered {
			if !c {
				continue
			}
			m.caveated = true
		}
		out[k] = m
	}
	return out
}

// expandFunc returns the Expand tree of a resource's permission or relation.
type expandFunc func(ctx context.Context, onr ObjectRelation) (*engine.ExpandNode, error)

// maxExpansions bounds how many object relations one validation entry may expand, so
// a data set with a huge fan-out fails clearly instead of running for ever.
const maxExpansions = 10000

// reachableSubjects computes every subject that reaches start, with the object
// relations on which each was found directly. It expands start, then every subject
// set found in the trees (group:eng#member is a member, and so are its own members),
// and solves the resulting equations by iteration from empty sets, so cyclic data
// (a group inside itself) converges instead of recursing for ever.
func reachableSubjects(ctx context.Context, expand expandFunc, start ObjectRelation) (subjectSet, error) {
	trees := map[ObjectRelation]*engine.ExpandNode{}
	order := []ObjectRelation{start}
	queued := map[ObjectRelation]bool{start: true}
	for i := 0; i < len(order); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(order) > maxExpansions {
			return nil, fmt.Errorf("expanding %s reaches more than %d subject sets", start, maxExpansions)
		}
		onr := order[i]
		tree, err := expand(ctx, onr)
		if err != nil {
			return nil, fmt.Errorf("expand %s: %w", onr, err)
		}
		trees[onr] = tree
		walkLeaves(tree, func(s engine.ExpandSubject) {
			if s.Subject.Relation == "" || s.Subject.IsWildcard() {
				return
			}
			next := ObjectRelation{Object: s.Subject.Object(), Relation: s.Subject.Relation}
			if !queued[next] {
				queued[next] = true
				order = append(order, next)
			}
		})
	}
	sets := make(map[ObjectRelation]subjectSet, len(order))
	for _, onr := range order {
		sets[onr] = subjectSet{}
	}
	// Each round recomputes every set from the previous round's sets; the union
	// operator only grows them, so rounds are bounded by the data unless an exclusion
	// feeds back on itself, which the limit catches.
	limit := 2*len(order) + 10
	for round := 0; ; round++ {
		if round > limit {
			return nil, fmt.Errorf("the subjects of %s do not settle: an exclusion depends on itself through the data", start)
		}
		changed := false
		next := make(map[ObjectRelation]subjectSet, len(order))
		for _, onr := range order {
			next[onr] = evalTree(trees[onr], sets)
			if !next[onr].equal(sets[onr]) {
				changed = true
			}
		}
		sets = next
		if !changed {
			return sets[start], nil
		}
	}
}

func walkLeaves(n *engine.ExpandNode, fn func(engine.ExpandSubject)) {
	if n == nil {
		return
	}
	for _, s := range n.Subjects {
		fn(s)
	}
	for _, c := range n.Children {
		walkLeaves(c, fn)
	}
}

// evalTree computes the subjects of one Expand tree, taking the members of subject
// sets from sets.
func evalTree(n *engine.ExpandNode, sets map[ObjectRelation]subjectSet) subjectSet {
	if n == nil {
		return subjectSet{}
	}
	switch n.Op {
	case engine.ExpandUnion:
		parts := make([]subjectSet, len(n.Children))
		for i, c := range n.Children {
			parts[i] = evalTree(c, sets)
		}
		return union(parts...)
	case engine.ExpandIntersection:
		if len(n.Children) == 0 {
			return subjectSet{}
		}
		out := evalTree(n.Children[0], sets)
		for _, c := range n.Children[1:] {
			out = intersect(out, evalTree(c, sets))
		}
		return out
	case engine.ExpandExclusion:
		if len(n.Children) == 0 {
			return subjectSet{}
		}
		rest := make([]subjectSet, 0, len(n.Children)-1)
		for _, c := range n.Children[1:] {
			rest = append(rest, evalTree(c, sets))
		}
		return subtract(evalTree(n.Children[0], sets), union(rest...))
	}
	// A leaf: the relation's direct subjects, and the members of its subject sets.
	here := ObjectRelation{Object: n.Resource, Relation: n.Relation}
	parts := []subjectSet{}
	for _, s := range n.Subjects {
		direct := &foundSubject{subject: s.Subject, caveated: s.Caveat != nil || s.Conditional, excluded: map[tuple.SubjectRef]bool{}, paths: map[ObjectRelation]bool{here: true}}
		parts = append(parts, subjectSet{s.Subject: direct})
		if s.Subject.Relation == "" || s.Subject.IsWildcard() {
			continue
		}
		members := subjectSet{}
		for k, m := range sets[ObjectRelation{Object: s.Subject.Object(), Relation: s.Subject.Relation}] {
			c := m.clone()
			c.caveated = c.caveated || s.Caveat != nil || s.Conditional
			members[k] = c
		}
		parts = append(parts, members)
	}
	for _, c := range n.Children {
		parts = append(parts, evalTree(c, sets))
	}
	return union(parts...)
}

// compareExpected checks found subjects against an expected relation and returns one
// sentence per difference: subjects expected but not found, found but not listed, and
// listed with the wrong caveat marker, exclusions or relations.
func compareExpected(exp ExpectedRelation, found subjectSet) []string {
	var problems []string
	listed := map[tuple.SubjectRef]bool{}
	for _, es := range exp.Subjects {
		listed[es.Subject] = true
		f, ok := found[es.Subject]
		if !ok {
			problems = append(problems, fmt.Sprintf("line %d: %s was expected but does not reach %s", es.Line, es.Subject, exp.Name()))
			continue
		}
		if es.Caveated != f.caveated {
			if f.caveated {
				problems = append(problems, fmt.Sprintf("line %d: %s reaches %s only under a caveat; write it [%s]", es.Line, es.Subject, exp.Name(), subjectText(f.subject, true, f.excludedList())))
			} else {
				problems = append(problems, fmt.Sprintf("line %d: %s reaches %s without a caveat; drop the [...] marker", es.Line, es.Subject, exp.Name()))
			}
		}
		if es.Subject.IsWildcard() {
			want := map[tuple.SubjectRef]bool{}
			for _, x := range es.Excluded {
				want[x.Subject] = x.Caveated
			}
			if !maps.Equal(want, f.excluded) {
				problems = append(problems, fmt.Sprintf("line %d: %s leaves out {%s}, not {%s}", es.Line, es.Subject, excludedText(f.excludedList()), excludedText(es.Excluded)))
			}
		}
		if es.PathsGiven {
			want := map[ObjectRelation]bool{}
			for _, p := range es.Paths {
				want[p] = true
			}
			if !maps.Equal(want, f.paths) {
				problems = append(problems, fmt.Sprintf("line %d: %s is found directly on <%s>, not <%s>", es.Line, es.Subject, strings.Join(f.pathList(), ">/<"), strings.Join(pathStrings(es.Paths), ">/<")))
			}
		}
	}
	extra := make([]*foundSubject, 0)
	for k, f := range found {
		if !listed[k] {
			extra = append(extra, f)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].subject.String() < extra[j].subject.String() })
	for _, f := range extra {
		problems = append(problems, fmt.Sprintf("%s reaches %s but is not listed: %s", f.subject, exp.Name(), f))
	}
	return problems
}

func excludedText(l []ExcludedSubject) string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.String()
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func pathStrings(ps []ObjectRelation) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	sort.Strings(out)
	return out
}

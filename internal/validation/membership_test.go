package validation

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func onr(s string) ObjectRelation {
	o, err := parseObjectRelation(s)
	if err != nil {
		panic(err)
	}
	return o
}

func leaf(at string, subjects ...string) *engine.ExpandNode {
	o := onr(at)
	n := &engine.ExpandNode{Resource: o.Object, Relation: o.Relation, Op: engine.ExpandLeaf}
	for _, s := range subjects {
		name, caveated := cutCaveatMarker(s)
		sub, err := tuple.ParseSubject(name)
		if err != nil {
			panic(err)
		}
		es := engine.ExpandSubject{Subject: sub}
		if caveated {
			es.Caveat = &tuple.Caveat{Name: "cav"}
		}
		n.Subjects = append(n.Subjects, es)
	}
	return n
}

func op(at string, o engine.ExpandOp, children ...*engine.ExpandNode) *engine.ExpandNode {
	r := onr(at)
	return &engine.ExpandNode{Resource: r.Object, Relation: r.Relation, Op: o, Children: children}
}

func render(s subjectSet) []string {
	var out []string
	for _, f := range s {
		out = append(out, f.String())
	}
	sort.Strings(out)
	return out
}

func TestReachableSubjects(t *testing.T) {
	trees := map[string]*engine.ExpandNode{
		// doc:d#view = viewer + (editor & approved) - banned
		"doc:d#view": op("doc:d#view", engine.ExpandExclusion,
			op("doc:d#view", engine.ExpandUnion,
				leaf("doc:d#viewer", "group:a#member", "user:carol[...]"),
				op("doc:d#view", engine.ExpandIntersection,
					leaf("doc:d#editor", "user:erin", "user:frank"),
					leaf("doc:d#approved", "user:*"))),
			leaf("doc:d#banned", "user:frank")),
		// groups a and b contain each other
		"group:a#member": leaf("group:a#member", "user:alice", "group:b#member"),
		"group:b#member": leaf("group:b#member", "user:bob", "group:a#member[...]"),
		"doc:p#view": op("doc:p#view", engine.ExpandExclusion,
			leaf("doc:p#viewer", "user:*"),
			leaf("doc:p#banned", "user:x", "user:y[...]")),
	}
	expand := func(_ context.Context, o ObjectRelation) (*engine.ExpandNode, error) {
		if n, ok := trees[o.String()]; ok {
			return n, nil
		}
		return nil, fmt.Errorf("no tree for %s", o)
	}
	cases := map[string][]string{
		"doc:d#view": {
			"[group:a#member] is <doc:d#viewer>/<group:b#member>",
			"[group:b#member] is <group:a#member>",
			"[user:alice] is <group:a#member>",
			"[user:bob] is <group:b#member>",
			"[user:carol[...]] is <doc:d#viewer>",
			"[user:erin] is <doc:d#editor>",
		},
		"group:b#member": {
			"[group:a#member[...]] is <group:b#member>",
			"[group:b#member[...]] is <group:a#member>",
			"[user:alice[...]] is <group:a#member>",
			"[user:bob] is <group:b#member>",
		},
		"doc:p#view": {"[user:* - {user:x, user:y[...]}] is <doc:p#viewer>"},
	}
	for start, want := range cases {
		got, err := reachableSubjects(context.Background(), expand, onr(start))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, render(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", start, diff)
		}
	}
}

func TestCompareExpected(t *testing.T) {
	found := subjectSet{}
	for _, f := range []*foundSubject{
		{subject: tuple.SubjectRef{Type: "user", ID: "tom"}, paths: map[ObjectRelation]bool{onr("doc:a#writer"): true}},
		{subject: tuple.SubjectRef{Type: "user", ID: "sam"}, caveated: true, paths: map[ObjectRelation]bool{onr("doc:a#reader"): true}},
		{subject: tuple.SubjectRef{Type: "user", ID: "*"}, excluded: map[tuple.SubjectRef]bool{{Type: "user", ID: "x"}: false}, paths: map[ObjectRelation]bool{onr("doc:a#reader"): true}},
		{subject: tuple.SubjectRef{Type: "user", ID: "zed"}, paths: map[ObjectRelation]bool{onr("doc:a#reader"): true}},
	} {
		if f.excluded == nil {
			f.excluded = map[tuple.SubjectRef]bool{}
		}
		found[f.subject] = f
	}
	exp := ExpectedRelation{Resource: tuple.ObjectRef{Type: "doc", ID: "a"}, Permission: "view"}
	for i, s := range []string{
		"[user:tom] is <doc:a#reader>",
		"[user:sam] is <doc:a#reader>",
		"[user:* - {user:y}]",
		"[user:ann]",
	} {
		es, err := ParseExpectedSubject(s)
		if err != nil {
			t.Fatal(err)
		}
		es.Line = 10 + i
		exp.Subjects = append(exp.Subjects, es)
	}
	got := compareExpected(exp, found)
	want := []string{
		"line 10: user:tom is found directly on <doc:a#writer>, not <doc:a#reader>",
		"line 11: user:sam reaches doc:a#view only under a caveat; write it [user:sam[...]]",
		"line 12: user:* leaves out {user:x}, not {user:y}",
		"line 13: user:ann was expected but does not reach doc:a#view",
		"user:zed reaches doc:a#view but is not listed: [user:zed] is <doc:a#reader>",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

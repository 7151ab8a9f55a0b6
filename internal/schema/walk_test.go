package schema

import (
	"strings"
	"testing"
)

func TestWalkVisitsEveryNodeInWrittenOrder(t *testing.T) {
	s := mustCompile(t, `
definition user {}
definition folder {
	relation viewer: user
	permission view = viewer
}
definition document {
	relation parent: folder
	relation owner: user
	relation editor: user
	relation banned: user
	permission edit = owner + editor
	permission view = (edit + parent->view) & owner - banned
	permission none = nil
}`)
	cases := map[string]string{
		"edit": "(+) owner editor",
		"view": "(-) (&) (+) edit parent->view owner banned",
		"none": "nil",
	}
	for perm, want := range cases {
		var got []string
		Walk(s.Definitions["document"].Relations[perm].Expr, func(e Expr) {
			switch e := e.(type) {
			case *Union:
				got = append(got, "(+)")
			case *Intersection:
				got = append(got, "(&)")
			case *Exclusion:
				got = append(got, "(-)")
			default:
				got = append(got, sexpr(e))
			}
		})
		if g := strings.Join(got, " "); g != want {
			t.Errorf("Walk(%s) visited %q, want %q", perm, g, want)
		}
	}
}

func TestWalkOfNilVisitsNothing(t *testing.T) {
	Walk(nil, func(e Expr) { t.Errorf("visited %v", e) })
}

package schema

import (
	"fmt"
	"testing"
)

func TestStronglyConnected(t *testing.T) {
	graph := map[string][]string{
		"a": {"b"},
		"b": {"c", "d"},
		"c": {"a"},
		"d": {"d", "e"},
		"e": {"x"}, // x is no node of its own but is followed all the same
		"f": {"a"},
	}
	successors := func(n string) []string { return graph[n] }
	comps := StronglyConnected([]string{"a", "f"}, successors)
	// Sinks first; within a component the entry node comes last.
	want := "[[x] [e] [d] [c b a] [f]]"
	if got := fmt.Sprint(comps); got != want {
		t.Fatalf("components = %s, want %s", got, want)
	}
	onCycle := map[string]bool{}
	for _, c := range comps {
		onCycle[c[0]] = OnCycle(c, successors)
	}
	wantCycle := map[string]bool{"x": false, "e": false, "d": true, "c": true, "f": false}
	if fmt.Sprint(onCycle) != fmt.Sprint(wantCycle) {
		t.Errorf("OnCycle = %v, want %v", onCycle, wantCycle)
	}
}

func TestStronglyConnectedIsDeterministic(t *testing.T) {
	graph := map[int][]int{}
	for i := range 200 {
		graph[i] = []int{(i * 7) % 200, (i + 1) % 50}
	}
	successors := func(n int) []int { return graph[n] }
	nodes := make([]int, 200)
	for i := range nodes {
		nodes[i] = 199 - i
	}
	first := fmt.Sprint(StronglyConnected(nodes, successors))
	for range 5 {
		if got := fmt.Sprint(StronglyConnected(nodes, successors)); got != first {
			t.Fatalf("second run differs:\n%s\n%s", got, first)
		}
	}
	seen := map[int]int{}
	for _, c := range StronglyConnected(nodes, successors) {
		for _, n := range c {
			seen[n]++
		}
	}
	for n := range 200 {
		if seen[n] != 1 {
			t.Errorf("node %d is in %d components, want 1", n, seen[n])
		}
	}
}

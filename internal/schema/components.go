package schema

// StronglyConnected returns the strongly connected components of a directed graph:
// the largest groups of nodes in which every node reaches every other. The compiler
// uses them to find permissions that reach themselves, and the engine to find the
// relations whose evaluation may meet cycles in the data.
//
// The graph is given as its nodes and a function listing each node's successors;
// successors that are not in nodes are followed all the same, so callers that want
// them ignored leave them out. Every node reachable from nodes is in exactly one
// component, including nodes on no cycle (components of one member; see
// OnCycle).
//
// The order is deterministic for a given nodes order and successor order:
// components come out as Tarjan's algorithm completes them, each one after every
// component it reaches, so a caller working through them in order meets the
// components a node depends on first. Within a component the members are listed
// from the last discovered to the first, so the member the search entered the
// component through comes last.
func StronglyConnected[N comparable](nodes []N, successors func(N) []N) [][]N {
	t := tarjan[N]{successors: successors, index: map[N]int{}, low: map[N]int{}, onStack: map[N]bool{}}
	for _, n := range nodes {
		if _, seen := t.index[n]; !seen {
			t.visit(n)
		}
	}
	return t.components
}

// OnCycle reports whether comp, a component StronglyConnected returned for the same
// successors, lies on a cycle: it has more than one member, or its only member is
// its own successor.
func OnCycle[N comparable](comp []N, successors func(N) []N) bool {
	if len(comp) != 1 {
		return len(comp) > 1
	}
	for _, w := range successors(comp[0]) {
		if w == comp[0] {
			return true
		}
	}
	return false
}

// tarjan is the state of one run of Tarjan's algorithm: the discovery index and
// lowest reachable index of each visited node, and the stack of nodes whose
// component is not complete yet.
type tarjan[N comparable] struct {
	successors func(N) []N
	index, low map[N]int
	onStack    map[N]bool
	stack      []N
	next       int
	components [][]N
}

func (t *tarjan[N]) visit(v N) {
	t.index[v], t.low[v] = t.next, t.next
	t.next++
	t.stack = append(t.stack, v)
	t.onStack[v] = true
	for _, w := range t.successors(v) {
		if _, seen := t.index[w]; !seen {
			t.visit(w)
			t.low[v] = min(t.low[v], t.low[w])
		} else if t.onStack[w] {
			t.low[v] = min(t.low[v], t.index[w])
		}
	}
	if t.low[v] != t.index[v] {
		return
	}
	var comp []N
	for {
		w := t.stack[len(t.stack)-1]
		t.stack = t.stack[:len(t.stack)-1]
		t.onStack[w] = false
		comp = append(comp, w)
		if w == v {
			break
		}
	}
	t.components = append(t.components, comp)
}

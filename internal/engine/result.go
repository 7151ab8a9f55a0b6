package engine

import (
	"math"
	"slices"
	"time"
)

// noCut marks a result that did not rely on a cycle cut.
const noCut = math.MaxInt

// result is the answer to one sub-problem, with what the answer depended on.
//
// Answers combine in three-valued (Kleene) logic: HasPermission, NoPermission and
// Conditional (unknown until the missing caveat context is supplied). An error is a
// fourth, "could not decide" value: a decisive sibling (a yes under a union, a no
// under an intersection) makes it irrelevant, otherwise it is the answer.
type result struct {
	perm    Permissionship
	missing []string // sorted, for Conditional
	err     error
	// cut is the depth of the shallowest node on the evaluation path that a cycle cut
	// below this point returned "no" for, or noCut. A result that relied on a cut
	// above its own node is only right for that path: it is neither cached nor shared.
	cut int
	// height is how many levels the evaluation used below this node; a cached answer
	// is reused at depth d only if d+height stays within MaxDepth, so answers do not
	// depend on whether the cache was warm.
	height int
	// expires is the earliest expiry among the relationships the answer depended on
	// (zero: none). A cached answer is dropped when it passes.
	expires time.Time
	node    *ExplainNode
}

func (r result) yes() bool  { return r.err == nil && r.perm == HasPermission }
func (r result) no() bool   { return r.err == nil && r.perm == NoPermission }
func (r result) cond() bool { return r.err == nil && r.perm == Conditional }

func noResult() result  { return result{perm: NoPermission, cut: noCut} }
func yesResult() result { return result{perm: HasPermission, cut: noCut} }
func errResult(err error) result {
	return result{err: err, cut: noCut}
}

// mergeMeta makes r depend on what o depended on too.
func (r *result) mergeMeta(o result) {
	r.cut = min(r.cut, o.cut)
	r.height = max(r.height, o.height)
	r.expires = earliest(r.expires, o.expires)
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

// better reports whether decisive result b rests on firmer ground than a: no cycle
// cut, a later expiry.
func better(a, b result) bool {
	if a.cut != b.cut {
		return b.cut > a.cut
	}
	if a.expires.IsZero() || b.expires.IsZero() {
		return b.expires.IsZero() && !a.expires.IsZero()
	}
	return b.expires.After(a.expires)
}

func unionMissing(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// or combines two alternatives: a yes decides alone (and carries only its own
// dependencies), otherwise the result depends on both.
func or(a, b result) result {
	switch {
	case a.yes() && b.yes():
		if better(a, b) {
			return b
		}
		return a
	case a.yes():
		return a
	case b.yes():
		return b
	}
	return combineUndecided(a, b)
}

// and combines two requirements: a no decides alone.
func and(a, b result) result {
	switch {
	case a.no() && b.no():
		if better(a, b) {
			return b
		}
		return a
	case a.no():
		return a
	case b.no():
		return b
	}
	if a.yes() && b.yes() {
		r := a
		r.mergeMeta(b)
		return r
	}
	return combineUndecided(a, b)
}

// combineUndecided combines two results neither of which decides the operator: an
// error wins, then Conditional (with both sets of missing names), then the common
// answer.
func combineUndecided(a, b result) result {
	r := a
	r.mergeMeta(b)
	switch {
	case a.err != nil:
	case b.err != nil:
		r.err = b.err
	case a.cond() || b.cond():
		r.perm = Conditional
		var ma, mb []string
		if a.cond() {
			ma = a.missing
		}
		if b.cond() {
			mb = b.missing
		}
		r.missing = unionMissing(ma, mb)
	}
	return r
}

// not negates an answer (for the subtracted side of an exclusion).
func not(a result) result {
	if a.err != nil {
		return a
	}
	switch a.perm {
	case HasPermission:
		a.perm = NoPermission
	case NoPermission:
		a.perm = HasPermission
	}
	return a
}

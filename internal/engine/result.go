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
//
// A paradox (a relation defined through its own negation, see wellfounded.go) leaves
// an answer open between two bounds: perm is what the subject certainly has, which is
// the answer given, and upper what it might have at most. Operators combine the two
// bounds separately, and a negation swaps them, so a paradox can never be negated
// into a grant.
type result struct {
	perm    Permissionship
	missing []string // sorted, for Conditional
	err     error
	// upper is nil when the answer is exact (the common case), otherwise the upper
	// bound, above perm.
	upper *bound
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

// bound is the upper end of an answer a paradox leaves open.
type bound struct {
	perm    Permissionship
	missing []string
}

// yes, no and cond test the answer given (the lower bound).
func (r result) yes() bool  { return r.err == nil && r.perm == HasPermission }
func (r result) no() bool   { return r.err == nil && r.perm == NoPermission }
func (r result) cond() bool { return r.err == nil && r.perm == Conditional }

// exactNo reports a no that no paradox leaves open: it decides an intersection.
func (r result) exactNo() bool { return r.no() && r.upper == nil }

// low is the lower bound of r as an exact answer.
func (r result) low() result {
	r.upper = nil
	return r
}

// high is the upper bound of r as an exact answer.
func (r result) high() result {
	if r.upper != nil {
		r.perm, r.missing, r.upper = r.upper.perm, r.upper.missing, nil
	}
	return r
}

// side is r's upper bound when upper is set, its lower bound otherwise.
func (r result) side(upper bool) result {
	if upper {
		return r.high()
	}
	return r.low()
}

// span joins exact bounds into one answer depending on both. An upper bound that
// failed is not known, so it is taken as the highest.
func span(lo, hi result) result {
	r := lo
	r.mergeMeta(hi)
	r.upper = nil
	switch {
	case lo.err != nil || lo.perm == HasPermission:
	case hi.err != nil:
		r.upper = &bound{perm: HasPermission}
	case hi.perm != lo.perm:
		r.upper = &bound{perm: hi.perm, missing: hi.missing}
	}
	return r
}

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
	if a.upper != nil || b.upper != nil {
		return span(or(a.low(), b.low()), or(a.high(), b.high()))
	}
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
	if a.upper != nil || b.upper != nil {
		return span(and(a.low(), b.low()), and(a.high(), b.high()))
	}
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

// not negates an answer (for the subtracted side of an exclusion): the negation of
// an open answer runs from the negation of its upper bound to that of its lower.
func not(a result) result {
	if a.err != nil {
		return a
	}
	if a.upper != nil {
		return span(not(a.high()), not(a.low()))
	}
	switch a.perm {
	case HasPermission:
		a.perm = NoPermission
	case NoPermission:
		a.perm = HasPermission
	}
	return a
}

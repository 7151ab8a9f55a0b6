package engine

import (
	"container/heap"
	"context"
	"sort"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// tag says how sure a lookup candidate is: tagYes candidates certainly have the
// permission; tagCheck candidates might (a caveat, an intersection, an exclusion or
// an ".all" arrow was involved) and are confirmed with Check.
type tag uint8

const (
	tagYes tag = iota + 1
	tagCheck
)

func both(a, b tag) tag {
	if a == tagYes && b == tagYes {
		return tagYes
	}
	return tagCheck
}

func either(a, b tag) tag {
	if a == tagYes || b == tagYes {
		return tagYes
	}
	return tagCheck
}

// caveatTag is the tag of a candidate reached through relationship r with tag t,
// after r's caveat: keep is false when the caveat rules the relationship out, and an
// answer that needs context the request lacks makes the candidate one to check.
func (c *checker) caveatTag(r tuple.Relationship, t tag) (_ tag, keep bool, _ error) {
	if c.dependent(r) {
		// Whether a grant bound to conditions counts is a check of other subjects:
		// the candidate is confirmed by Check, which evaluates them.
		t = tagCheck
	}
	if r.Caveat == nil {
		return t, true, nil
	}
	res := c.caveatResult(r)
	switch {
	case res.err != nil:
		return t, false, res.err
	case res.no():
		return t, false, nil
	case res.cond():
		return tagCheck, true, nil
	}
	return t, true, nil
}

// cand is one lookup candidate.
type cand struct {
	id  string
	tag tag
}

// stream yields candidates in ascending id order, each id once. Every stream is
// complete: an object that has the permission (or has it conditionally) is never
// missing, so intersections and exclusions of streams stay complete too.
type stream interface {
	next(ctx context.Context) (cand, bool, error)
}

type emptyStream struct{}

func (emptyStream) next(context.Context) (cand, bool, error) { return cand{}, false, nil }

// sliceStream serves a materialised, sorted candidate list.
type sliceStream struct {
	cands []cand
	pos   int
}

func newSliceStream(cands []cand, after string) *sliceStream {
	pos := 0
	if after != "" {
		pos = sort.Search(len(cands), func(i int) bool { return cands[i].id > after })
	}
	return &sliceStream{cands: cands, pos: pos}
}

func (s *sliceStream) next(context.Context) (cand, bool, error) {
	if s.pos >= len(s.cands) {
		return cand{}, false, nil
	}
	c := s.cands[s.pos]
	s.pos++
	return c, true, nil
}

// reverseStream yields the resources of one type that one subject stands in one
// relation to, reading the store's reverse index a page at a time (so memory stays at
// one page) in resource-id order. Pages start small and double, because a lookup may
// hold one such stream per intermediate object. Caveats on the relationships are
// evaluated as they are read: false drops the resource, unknown makes it a tagCheck
// candidate.
type reverseStream struct {
	c       *checker
	subject tuple.SubjectRef
	resType string
	rel     string
	base    tag // the subject's own certainty
	page    int // the next page's size
	maxPage int
	after   *tuple.Key
	buf     []cand
	pos     int
	done    bool
}

// firstReversePage is the size of a reverse stream's first read.
const firstReversePage = 32

func newReverseStream(c *checker, subject tuple.SubjectRef, resType, rel string, base tag, after string, page int) *reverseStream {
	s := &reverseStream{c: c, subject: subject, resType: resType, rel: rel, base: base, page: min(page, firstReversePage), maxPage: page}
	if after != "" {
		// The key of "resType:after#rel@subject": the reverse order puts every
		// relationship of this subject on a later resource id after it.
		s.after = &tuple.Key{
			ResourceType: resType, ResourceID: after, Relation: rel,
			SubjectType: subject.Type, SubjectID: subject.ID, SubjectRel: subject.Relation,
		}
	}
	return s
}

func (s *reverseStream) next(ctx context.Context) (cand, bool, error) {
	for {
		if s.pos < len(s.buf) {
			c := s.buf[s.pos]
			s.pos++
			return c, true, nil
		}
		if s.done {
			return cand{}, false, nil
		}
		if err := s.fetch(ctx); err != nil {
			return cand{}, false, err
		}
	}
}

func (s *reverseStream) fetch(ctx context.Context) error {
	s.buf, s.pos = s.buf[:0], 0
	sf := datastore.SubjectFilter{Type: s.subject.Type, IDs: []string{s.subject.ID}, Relations: []string{s.subject.Relation}}
	opts := datastore.ReverseQueryOptions{ResourceType: s.resType, Relation: s.rel, Limit: s.page, After: s.after}
	n := 0
	var last tuple.Key
	for r, err := range s.c.reader.ReverseQueryRelationships(ctx, sf, opts) {
		if err != nil {
			return err
		}
		n++
		last = r.Key()
		t, keep, err := s.c.caveatTag(r, s.base)
		if err != nil {
			return err
		}
		if keep {
			s.buf = append(s.buf, cand{id: r.Resource.ID, tag: t})
		}
	}
	if n < s.page {
		s.done = true
	}
	if n > 0 {
		s.after = &last
	}
	s.page = min(s.page*2, s.maxPage)
	return nil
}

// unionStream merges sorted streams, each id once; an id is certain if any stream is
// certain of it.
type unionStream struct {
	h       candHeap
	pending []stream // not yet started
}

func newUnion(streams []stream) stream {
	switch len(streams) {
	case 0:
		return emptyStream{}
	case 1:
		return streams[0]
	}
	return &unionStream{pending: streams}
}

type heapEntry struct {
	c cand
	s stream
}

type candHeap []heapEntry

func (h candHeap) Len() int           { return len(h) }
func (h candHeap) Less(i, j int) bool { return h[i].c.id < h[j].c.id }
func (h candHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)        { *h = append(*h, x.(heapEntry)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (u *unionStream) next(ctx context.Context) (cand, bool, error) {
	if u.pending != nil {
		for _, s := range u.pending {
			c, ok, err := s.next(ctx)
			if err != nil {
				return cand{}, false, err
			}
			if ok {
				u.h = append(u.h, heapEntry{c, s})
			}
		}
		u.pending = nil
		heap.Init(&u.h)
	}
	if len(u.h) == 0 {
		return cand{}, false, nil
	}
	out := u.h[0].c
	for len(u.h) > 0 && u.h[0].c.id == out.id {
		out.tag = either(out.tag, u.h[0].c.tag)
		s := u.h[0].s
		c, ok, err := s.next(ctx)
		if err != nil {
			return cand{}, false, err
		}
		if ok {
			u.h[0].c = c
			heap.Fix(&u.h, 0)
		} else {
			heap.Pop(&u.h)
		}
	}
	return out, true, nil
}

// exclusionStream yields the base stream's ids minus those the subtracted stream is
// certain of; an id the subtracted stream only might have becomes tagCheck.
type exclusionStream struct {
	base, sub stream
	head      cand
	has       bool
	started   bool
}

func (s *exclusionStream) next(ctx context.Context) (cand, bool, error) {
	if !s.started {
		s.started = true
		c, ok, err := s.sub.next(ctx)
		if err != nil {
			return cand{}, false, err
		}
		s.head, s.has = c, ok
	}
	for {
		b, ok, err := s.base.next(ctx)
		if err != nil || !ok {
			return cand{}, false, err
		}
		for s.has && s.head.id < b.id {
			c, ok, err := s.sub.next(ctx)
			if err != nil {
				return cand{}, false, err
			}
			s.head, s.has = c, ok
		}
		if s.has && s.head.id == b.id {
			if s.head.tag == tagYes {
				continue
			}
			b.tag = tagCheck
		}
		return b, true, nil
	}
}

// filterStream yields the candidates of base that the other children of an
// intersection also grant. Rather than enumerating those children, which are often
// far broader than the first (a portal or tenant filter such as
// `& owner->portal_user` covers everything a brand's users may see), it evaluates them
// for a batch of base candidates at a time, the way Check would, so a lookup's cost
// follows the size of its first child.
type filterStream struct {
	c      *checker
	base   stream
	def    *schema.Definition
	rel    *schema.Relation
	others []schema.Expr
	buf    []cand
	pos    int
	done   bool
}

func (s *filterStream) next(ctx context.Context) (cand, bool, error) {
	for {
		if s.pos < len(s.buf) {
			c := s.buf[s.pos]
			s.pos++
			return c, true, nil
		}
		if s.done {
			return cand{}, false, nil
		}
		var pulled []cand
		for len(pulled) < confirmBatch {
			c, ok, err := s.base.next(ctx)
			if err != nil {
				return cand{}, false, err
			}
			if !ok {
				s.done = true
				break
			}
			pulled = append(pulled, c)
		}
		if err := s.filter(ctx, pulled); err != nil {
			return cand{}, false, err
		}
	}
}

// filter evaluates the other children for the pulled candidates and keeps, in order,
// those every child grants (conditionally granted ones become tagCheck).
func (s *filterStream) filter(ctx context.Context, pulled []cand) error {
	s.buf, s.pos = s.buf[:0], 0
	alive := make([]int, len(pulled))
	for i := range alive {
		alive[i] = i
	}
	tags := make([]tag, len(pulled))
	for i, c := range pulled {
		tags[i] = c.tag
	}
	for _, e := range s.others {
		if len(alive) == 0 {
			break
		}
		b := batch{def: s.def, rel: s.rel, depth: 1, ids: make([]string, len(alive)), paths: make([]*pathNode, len(alive))}
		for k, i := range alive {
			id := pulled[i].id
			b.ids[k] = id
			b.paths[k] = &pathNode{typ: s.def.Name, id: id, rel: s.rel.Name, depth: 1}
		}
		rs := s.c.evalExpr(ctx, b, e)
		kept := alive[:0]
		for k, i := range alive {
			r := rs[k]
			switch {
			case r.err != nil:
				return r.err
			case r.no():
				continue
			case r.cond():
				tags[i] = tagCheck
			}
			kept = append(kept, i)
		}
		alive = kept
	}
	for _, i := range alive {
		s.buf = append(s.buf, cand{id: pulled[i].id, tag: tags[i]})
	}
	return nil
}

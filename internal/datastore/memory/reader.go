package memory

import (
	"context"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// chunk is how many rows a query collects under the tenant lock before handing them to
// the caller with the lock released. Yielding without the lock lets callers run nested
// queries freely.
const chunk = 256

type reader struct {
	t   *tenant
	err error
	rev datastore.Revision
	now func() time.Time
}

func (r *reader) Revision() datastore.Revision { return r.rev }

func (r *reader) ReadSchema(context.Context) (datastore.StoredSchema, error) {
	if r.err != nil {
		return datastore.StoredSchema{}, r.err
	}
	r.t.mu.RLock()
	defer r.t.mu.RUnlock()
	for i := len(r.t.schemas) - 1; i >= 0; i-- {
		if r.t.schemas[i].Revision <= r.rev {
			return r.t.schemas[i], nil
		}
	}
	return datastore.StoredSchema{}, datastore.ErrSchemaNotFound
}

// span is one contiguous range of a tree to scan: rows from start while inRange holds.
type span struct {
	start   tuple.Key
	inRange func(k tuple.Key) bool
}

func (r *reader) QueryRelationships(ctx context.Context, f datastore.RelationshipFilter, opts datastore.QueryOptions) iter.Seq2[tuple.Relationship, error] {
	var spans []span
	switch {
	case f.ResourceType == "":
		spans = []span{{inRange: func(tuple.Key) bool { return true }}}
	case len(f.ResourceIDs) > 0:
		ids := slices.Clone(f.ResourceIDs)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		for _, id := range ids {
			spans = append(spans, span{
				start:   tuple.Key{ResourceType: f.ResourceType, ResourceID: id, Relation: f.Relation},
				inRange: func(k tuple.Key) bool { return k.ResourceType == f.ResourceType && k.ResourceID == id },
			})
		}
	default:
		spans = []span{{
			start: tuple.Key{ResourceType: f.ResourceType, ResourceID: f.ResourceIDPrefix},
			inRange: func(k tuple.Key) bool {
				return k.ResourceType == f.ResourceType && strings.HasPrefix(k.ResourceID, f.ResourceIDPrefix)
			},
		}}
	}
	return r.scan(ctx, false, spans, f.Matches, opts.Limit, opts.After)
}

func (r *reader) ReverseQueryRelationships(ctx context.Context, sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	var spans []span
	if len(sf.IDs) == 0 {
		spans = []span{{
			start:   tuple.Key{SubjectType: sf.Type},
			inRange: func(k tuple.Key) bool { return k.SubjectType == sf.Type },
		}}
	} else {
		ids := slices.Clone(sf.IDs)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		for _, id := range ids {
			spans = append(spans, span{
				start:   tuple.Key{SubjectType: sf.Type, SubjectID: id},
				inRange: func(k tuple.Key) bool { return k.SubjectType == sf.Type && k.SubjectID == id },
			})
		}
	}
	match := func(rel tuple.Relationship) bool {
		return sf.Matches(rel.Subject) &&
			(opts.ResourceType == "" || rel.Resource.Type == opts.ResourceType) &&
			(opts.Relation == "" || rel.Relation == opts.Relation)
	}
	return r.scan(ctx, true, spans, match, opts.Limit, opts.After)
}

// scan walks the spans of the forward or reverse tree in order and yields the rows
// visible at the reader's revision that match, resuming after the cursor.
func (r *reader) scan(ctx context.Context, rev bool, spans []span, match func(tuple.Relationship) bool, limit int, after *tuple.Key) iter.Seq2[tuple.Relationship, error] {
	return func(yield func(tuple.Relationship, error) bool) {
		if r.err != nil {
			yield(tuple.Relationship{}, r.err)
			return
		}
		cmp := tuple.Key.Compare
		tree := r.t.forward
		if rev {
			cmp = datastore.ReverseCompare
			tree = r.t.reverse
		}
		now := r.now()
		sent := 0
		for _, sp := range spans {
			pivot := &row{key: sp.start}
			exclusive := false
			if after != nil {
				if cmp(*after, sp.start) >= 0 {
					pivot = &row{key: *after}
					exclusive = true
				}
			}
			for {
				if err := ctx.Err(); err != nil {
					yield(tuple.Relationship{}, err)
					return
				}
				var buf []tuple.Relationship
				var last tuple.Key
				done, scanned := true, 0
				r.t.mu.RLock()
				tree.AscendGreaterOrEqual(pivot, func(x *row) bool {
					if exclusive && cmp(x.key, pivot.key) <= 0 {
						return true
					}
					if !sp.inRange(x.key) {
						return false
					}
					// Bound the rows examined under the lock, matching or not.
					if scanned == chunk {
						done = false
						return false
					}
					scanned++
					last = x.key
					if x.visibleAt(r.rev, now) && match(x.rel) {
						buf = append(buf, x.rel)
					}
					return true
				})
				r.t.mu.RUnlock()
				for _, rel := range buf {
					if !yield(rel, nil) {
						return
					}
					sent++
					if limit > 0 && sent >= limit {
						return
					}
				}
				if done {
					break
				}
				pivot = &row{key: last, created: ^datastore.Revision(0)}
				exclusive = true
			}
		}
	}
}

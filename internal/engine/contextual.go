package engine

import (
	"context"
	"iter"
	"slices"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// overlayReader reads a snapshot plus a request's contextual relationships, as if
// they were stored: they are merged into every query in the store's order, and one
// with the same key as a stored relationship replaces it. Nothing is written.
type overlayReader struct {
	base    datastore.Reader
	forward []tuple.Relationship // by tuple.Key order
	reverse []tuple.Relationship // by datastore.ReverseCompare order
}

// withContextual returns base, or an overlay of base with rels (expired ones
// dropped, the last of duplicate keys kept).
func withContextual(base datastore.Reader, rels []tuple.Relationship, now time.Time) datastore.Reader {
	if len(rels) == 0 {
		return base
	}
	byKey := map[tuple.Key]tuple.Relationship{}
	for _, r := range rels {
		if r.ExpiredAt(now) {
			continue
		}
		byKey[r.Key()] = r
	}
	if len(byKey) == 0 {
		return base
	}
	o := &overlayReader{base: base}
	for _, r := range byKey {
		o.forward = append(o.forward, r)
	}
	slices.SortFunc(o.forward, func(a, b tuple.Relationship) int { return a.Key().Compare(b.Key()) })
	o.reverse = slices.Clone(o.forward)
	slices.SortFunc(o.reverse, func(a, b tuple.Relationship) int { return datastore.ReverseCompare(a.Key(), b.Key()) })
	return o
}

func (o *overlayReader) Revision() datastore.Revision { return o.base.Revision() }

func (o *overlayReader) ReadSchema(ctx context.Context) (datastore.StoredSchema, error) {
	return o.base.ReadSchema(ctx)
}

// ReadRecord reads records from the base: contextual relationships add none.
func (o *overlayReader) ReadRecord(ctx context.Context, kind, id string) (datastore.Record, error) {
	return o.base.ReadRecord(ctx, kind, id)
}

// ListRecords lists records from the base.
func (o *overlayReader) ListRecords(ctx context.Context, kind string, q datastore.RecordQuery) iter.Seq2[datastore.Record, error] {
	return o.base.ListRecords(ctx, kind, q)
}

func (o *overlayReader) QueryRelationships(ctx context.Context, f datastore.RelationshipFilter, opts datastore.QueryOptions) iter.Seq2[tuple.Relationship, error] {
	var extra []tuple.Relationship
	for _, r := range o.forward {
		if f.Matches(r) && (opts.After == nil || r.Key().Compare(*opts.After) > 0) {
			extra = append(extra, r)
		}
	}
	baseOpts := opts
	if opts.Limit > 0 {
		baseOpts.Limit = opts.Limit + len(extra)
	}
	return merge(o.base.QueryRelationships(ctx, f, baseOpts), extra, tuple.Key.Compare, opts.Limit)
}

func (o *overlayReader) ReverseQueryRelationships(ctx context.Context, sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	var extra []tuple.Relationship
	for _, r := range o.reverse {
		if !sf.Matches(r.Subject) ||
			opts.ResourceType != "" && r.Resource.Type != opts.ResourceType ||
			opts.Relation != "" && r.Relation != opts.Relation ||
			opts.After != nil && datastore.ReverseCompare(r.Key(), *opts.After) <= 0 {
			continue
		}
		extra = append(extra, r)
	}
	baseOpts := opts
	if opts.Limit > 0 {
		baseOpts.Limit = opts.Limit + len(extra)
	}
	return merge(o.base.ReverseQueryRelationships(ctx, sf, baseOpts), extra, datastore.ReverseCompare, opts.Limit)
}

// merge interleaves a sorted store stream with sorted extra relationships; an extra
// relationship replaces a stored one with the same key.
func merge(base iter.Seq2[tuple.Relationship, error], extra []tuple.Relationship, cmp func(a, b tuple.Key) int, limit int) iter.Seq2[tuple.Relationship, error] {
	if len(extra) == 0 {
		return base
	}
	return func(yield func(tuple.Relationship, error) bool) {
		sent := 0
		emit := func(r tuple.Relationship) bool {
			if !yield(r, nil) {
				return false
			}
			sent++
			return limit <= 0 || sent < limit
		}
		i := 0
		for r, err := range base {
			if err != nil {
				yield(tuple.Relationship{}, err)
				return
			}
			k := r.Key()
			for i < len(extra) && cmp(extra[i].Key(), k) < 0 {
				if !emit(extra[i]) {
					return
				}
				i++
			}
			if i < len(extra) && cmp(extra[i].Key(), k) == 0 {
				continue // replaced by the contextual relationship
			}
			if !emit(r) {
				return
			}
		}
		for ; i < len(extra); i++ {
			if !emit(extra[i]) {
				return
			}
		}
	}
}

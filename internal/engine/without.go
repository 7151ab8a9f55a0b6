package engine

import (
	"context"
	"crypto/sha256"
	"iter"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// withoutReader reads a snapshot as if some of its relationships had been deleted:
// the hypothetical removals of a what-if question. Nothing is written; every query
// simply skips the removed keys.
type withoutReader struct {
	datastore.Reader
	removed map[tuple.Key]bool
}

// withoutRelationships returns base, or base minus the relationships with the keys
// of rels.
func withoutRelationships(base datastore.Reader, rels []tuple.Relationship) datastore.Reader {
	if len(rels) == 0 {
		return base
	}
	w := &withoutReader{Reader: base, removed: make(map[tuple.Key]bool, len(rels))}
	for _, r := range rels {
		w.removed[r.Key()] = true
	}
	return w
}

func (w *withoutReader) QueryRelationships(ctx context.Context, f datastore.RelationshipFilter, opts datastore.QueryOptions) iter.Seq2[tuple.Relationship, error] {
	limit := opts.Limit
	if limit > 0 {
		opts.Limit = limit + len(w.removed)
	}
	return w.skip(w.Reader.QueryRelationships(ctx, f, opts), limit)
}

func (w *withoutReader) ReverseQueryRelationships(ctx context.Context, sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	limit := opts.Limit
	if limit > 0 {
		opts.Limit = limit + len(w.removed)
	}
	return w.skip(w.Reader.ReverseQueryRelationships(ctx, sf, opts), limit)
}

// skip drops removed relationships from a stream and stops after limit (0: no limit).
func (w *withoutReader) skip(base iter.Seq2[tuple.Relationship, error], limit int) iter.Seq2[tuple.Relationship, error] {
	return func(yield func(tuple.Relationship, error) bool) {
		sent := 0
		for r, err := range base {
			if err != nil {
				yield(tuple.Relationship{}, err)
				return
			}
			if w.removed[r.Key()] {
				continue
			}
			if !yield(r, nil) {
				return
			}
			sent++
			if limit > 0 && sent >= limit {
				return
			}
		}
	}
}

// scenarioFingerprint fingerprints a request's contextual relationships together with
// its hypothetical removals, so answers under a what-if never share cache entries
// with answers about the stored state.
func scenarioFingerprint(contextual, without []tuple.Relationship) fingerprint {
	if len(without) == 0 {
		return contextualFingerprint(contextual)
	}
	lines := make([]string, 0, len(contextual)+len(without))
	for _, r := range contextual {
		lines = append(lines, "+"+tuple.Format(r))
	}
	for _, r := range without {
		k := r.Key()
		lines = append(lines, "-"+tuple.Format(tuple.Relationship{Resource: tuple.ObjectRef{Type: k.ResourceType, ID: k.ResourceID},
			Relation: k.Relation, Subject: tuple.SubjectRef{Type: k.SubjectType, ID: k.SubjectID, Relation: k.SubjectRel}}))
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	var f fingerprint
	copy(f[:], sum[:])
	f[0] |= 1
	return f
}

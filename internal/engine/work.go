package engine

import (
	"context"
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// ErrLookupWorkExceeded: a lookup needed more work than its limit allows. The errors
// carrying it are *LookupWorkError values, of kind datastore.ErrResourceExhausted.
var ErrLookupWorkExceeded = datastore.Sentinel("lookup work limit exceeded", datastore.ErrResourceExhausted)

// LookupWorkError stops a LookupResources or LookupSubjects that read more from the
// store than its work limit (Config.MaxLookupWork, or the request's MaxWork). A unit
// of work is one store query or one relationship a query returns, whichever part of
// the lookup (its streams, its fixed points, the checks that confirm candidates)
// made the read; answers from the shared cache cost nothing. The results already
// streamed stand.
type LookupWorkError struct {
	// Lookup is "LookupResources" or "LookupSubjects".
	Lookup string
	// Limit is the units of work the lookup was allowed.
	Limit int64
}

func (e *LookupWorkError) Error() string {
	return fmt.Sprintf("%s stopped at its work limit of %d store reads (each query and each relationship it returns counts one): narrow the lookup, for example to a more specific subject or permission, or raise the lookup work limit",
		e.Lookup, e.Limit)
}

// Unwrap lets errors.Is match ErrLookupWorkExceeded.
func (e *LookupWorkError) Unwrap() error { return ErrLookupWorkExceeded }

// limitWork makes every read of the checker count against a work limit: requested,
// or Config.MaxLookupWork when that is 0; no limit when both are 0. Call it before
// the lookup reads anything.
func (c *checker) limitWork(lookup string, requested int) {
	limit := requested
	if limit == 0 {
		limit = c.e.cfg.MaxLookupWork
	}
	if limit > 0 {
		c.reader = &workReader{Reader: c.reader, err: &LookupWorkError{Lookup: lookup, Limit: int64(limit)}}
	}
}

// workReader is a Reader that charges one request's reads to its work limit and
// fails them once the limit is spent. The request's goroutines share it.
type workReader struct {
	datastore.Reader
	spent atomic.Int64
	err   *LookupWorkError
}

// spend charges n units and reports whether the limit still holds.
func (r *workReader) spend(n int64) bool { return r.spent.Add(n) <= r.err.Limit }

func (r *workReader) QueryRelationships(ctx context.Context, f datastore.RelationshipFilter, opts datastore.QueryOptions) iter.Seq2[tuple.Relationship, error] {
	return r.charged(r.Reader.QueryRelationships(ctx, f, opts))
}

func (r *workReader) ReverseQueryRelationships(ctx context.Context, s datastore.SubjectFilter, opts datastore.ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	return r.charged(r.Reader.ReverseQueryRelationships(ctx, s, opts))
}

// charged passes seq on, charging one unit for the query and one per relationship.
func (r *workReader) charged(seq iter.Seq2[tuple.Relationship, error]) iter.Seq2[tuple.Relationship, error] {
	return func(yield func(tuple.Relationship, error) bool) {
		if !r.spend(1) {
			yield(tuple.Relationship{}, r.err)
			return
		}
		for rel, err := range seq {
			if err == nil && !r.spend(1) {
				yield(tuple.Relationship{}, r.err)
				return
			}
			if !yield(rel, err) {
				return
			}
		}
	}
}

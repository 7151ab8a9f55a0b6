package bolt

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// chunkRows is how many index entries one short read transaction examines before it is
// closed and its results are handed to the caller. Nothing is held open while the
// caller runs, so callers may write, nest queries or stop at any time.
const chunkRows = 512

// maxSpans bounds how many key ranges one query is split into; beyond it the query
// scans a wider range and filters.
const maxSpans = 1024

type reader struct {
	s   *Store
	t   *tenant
	err error
	rev datastore.Revision
}

// SnapshotReader implements datastore.Datastore.
func (s *Store) SnapshotReader(name string, rev datastore.Revision) datastore.Reader {
	t, err := s.tenant(name)
	return &reader{s: s, t: t, err: err, rev: rev}
}

func (r *reader) Revision() datastore.Revision { return r.rev }

// index is one of the two relationship indexes.
type index struct {
	bucket []byte
	decode func(k []byte) (tuple.Key, datastore.Revision, error)
}

var (
	forwardIndex = &index{bucket: bucketRels, decode: decodeForwardKey}
	reverseIndex = &index{bucket: bucketRevRels, decode: decodeReverseKey}
)

func (r *reader) QueryRelationships(ctx context.Context, f datastore.RelationshipFilter, opts datastore.QueryOptions) iter.Seq2[tuple.Relationship, error] {
	if r.err != nil {
		return errSeq(r.err)
	}
	var after []byte
	if opts.After != nil {
		after = afterAllVersions(forwardPrefix(nil, r.t.id, opts.After))
	}
	return r.scan(ctx, forwardIndex, forwardSpans(r.t.id, &f), after, f.Matches, opts.Limit)
}

func (r *reader) ReverseQueryRelationships(ctx context.Context, sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	if r.err != nil {
		return errSeq(r.err)
	}
	var after []byte
	if opts.After != nil {
		after = afterAllVersions(reversePrefix(nil, r.t.id, opts.After))
	}
	match := func(rel tuple.Relationship) bool {
		return sf.Matches(rel.Subject) &&
			(opts.ResourceType == "" || rel.Resource.Type == opts.ResourceType) &&
			(opts.Relation == "" || rel.Relation == opts.Relation)
	}
	return r.scan(ctx, reverseIndex, reverseSpans(r.t.id, &sf, &opts), after, match, opts.Limit)
}

func errSeq(err error) iter.Seq2[tuple.Relationship, error] {
	return func(yield func(tuple.Relationship, error) bool) { yield(tuple.Relationship{}, err) }
}

// scan yields the rows of the spans (ascending, non-overlapping key prefixes) visible
// at the reader's revision that match, starting after the seek key after, in chunks.
func (r *reader) scan(ctx context.Context, idx *index, spans [][]byte, after []byte, match func(tuple.Relationship) bool, limit int) iter.Seq2[tuple.Relationship, error] {
	return func(yield func(tuple.Relationship, error) bool) {
		now := r.s.opts.Now()
		sent := 0
		var buf []tuple.Relationship
		for _, prefix := range spans {
			pos := prefix
			if after != nil && bytes.Compare(after, prefix) > 0 {
				pos = after
			}
			for pos != nil {
				if err := ctx.Err(); err != nil {
					yield(tuple.Relationship{}, err)
					return
				}
				want := 0
				if limit > 0 {
					want = limit - sent
				}
				var err error
				buf, pos, err = r.chunk(idx, prefix, pos, now, match, buf[:0], want)
				if err != nil {
					yield(tuple.Relationship{}, err)
					return
				}
				for _, rel := range buf {
					if !yield(rel, nil) {
						return
					}
					sent++
					if limit > 0 && sent >= limit {
						return
					}
				}
			}
		}
	}
}

// chunk reads up to chunkRows entries with the prefix from start on in one read
// transaction and appends the visible matching ones to out. It returns where the next
// chunk starts, or nil when the prefix is exhausted or want rows were found. Reverse
// reads merge the overlay of reverse-index writes not yet in the file; the overlay is
// read before the file, so an entry merged into the file in between is found in one
// or the other.
func (r *reader) chunk(idx *index, prefix, start []byte, now time.Time, match func(tuple.Relationship) bool, out []tuple.Relationship, want int) ([]tuple.Relationship, []byte, error) {
	if _, _, _, gone := r.t.state(); gone != nil {
		return out, nil, gone
	}
	var ov []ovItem
	ovCapped := false
	if idx == reverseIndex {
		ov, ovCapped = r.s.overlay.rangeFrom(start, prefix, chunkRows)
	}
	tx, err := r.s.db.Begin(false)
	if err != nil {
		return out, nil, mapErr(err)
	}
	defer func() { _ = tx.Rollback() }()
	c := tx.Bucket(idx.bucket).Cursor()
	fk, fv := c.Seek(start)
	if fk != nil && !bytes.HasPrefix(fk, prefix) {
		fk = nil
	}
	oi, scanned := 0, 0
	for {
		if oi == len(ov) && ovCapped {
			// Every overlay entry fetched is used and more may follow: resume just
			// after the last one (the file is consumed up to it as well).
			return out, append(bytes.Clone(ov[len(ov)-1].key), 0), nil
		}
		// The next entry in key order; on equal keys the overlay's value is newer.
		var k, v []byte
		advFile, advOv := false, false
		switch {
		case fk == nil && oi == len(ov):
			return out, nil, nil
		case oi == len(ov):
			k, v, advFile = fk, fv, true
		case fk == nil:
			k, v, advOv = ov[oi].key, ov[oi].val, true
		default:
			switch cmp := bytes.Compare(fk, ov[oi].key); {
			case cmp < 0:
				k, v, advFile = fk, fv, true
			case cmp > 0:
				k, v, advOv = ov[oi].key, ov[oi].val, true
			default:
				k, v, advFile, advOv = fk, ov[oi].val, true, true
			}
		}
		if scanned == chunkRows || (want > 0 && len(out) >= want) {
			return out, bytes.Clone(k), nil
		}
		scanned++
		if advFile {
			if fk, fv = c.Next(); fk != nil && !bytes.HasPrefix(fk, prefix) {
				fk = nil
			}
		}
		if advOv {
			oi++
		}
		if createdOf(k) > r.rev {
			continue
		}
		deleted, ex, err := valueDeleted(v)
		if err != nil {
			return out, nil, err
		}
		if (deleted != 0 && deleted <= r.rev) || expiredAt(ex, now) {
			continue
		}
		key, _, err := idx.decode(k)
		if err != nil {
			return out, nil, err
		}
		rel := relFromKey(key)
		if ex[0] != 0 {
			if err := decodeExtras(ex, &rel); err != nil {
				return out, nil, err
			}
		}
		if match(rel) {
			out = append(out, rel)
		}
	}
}

// sortedUnique returns the distinct values of xs in byte order.
func sortedUnique(xs []string) []string {
	if len(xs) <= 1 {
		return xs
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}

// extend appends each value (as a terminated field) to each span, keeping the spans
// in ascending order.
func extend(spans [][]byte, vals []string) [][]byte {
	if len(spans) == 1 && len(vals) == 1 {
		// The common narrowing step: extend the one span in place (spans own their
		// bytes) and keep spare capacity for the next step.
		spans[0] = appendField(spans[0], vals[0])
		return spans
	}
	out := make([][]byte, 0, len(spans)*len(vals))
	for _, s := range spans {
		for _, v := range vals {
			out = append(out, appendField(slices.Clip(s), v))
		}
	}
	return out
}

// forwardSpans narrows a forward query to the key prefixes its filter pins down: the
// resource type, then each resource id (or the id prefix), the relation, the subject
// type, each subject id and each subject relation, as far as the filter fixes them.
func forwardSpans(tenant uint32, f *datastore.RelationshipFilter) [][]byte {
	spans := [][]byte{appendTenant(make([]byte, 0, 96), tenant)}
	if f.ResourceType == "" {
		return spans
	}
	spans = extend(spans, []string{f.ResourceType})
	switch {
	case len(f.ResourceIDs) > 0:
		var ids []string
		for _, id := range sortedUnique(f.ResourceIDs) {
			if strings.HasPrefix(id, f.ResourceIDPrefix) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 || len(ids) > maxSpans {
			if len(ids) == 0 {
				return nil
			}
			return spans
		}
		spans = extend(spans, ids)
	case f.ResourceIDPrefix != "":
		return [][]byte{append(spans[0], f.ResourceIDPrefix...)}
	default:
		return spans
	}
	if f.Relation == "" {
		return spans
	}
	spans = extend(spans, []string{f.Relation})
	if f.Subject == nil {
		return spans
	}
	spans = extend(spans, []string{f.Subject.Type})
	if len(f.Subject.IDs) == 0 || len(spans)*len(f.Subject.IDs) > maxSpans {
		return spans
	}
	spans = extend(spans, sortedUnique(f.Subject.IDs))
	if len(f.Subject.Relations) == 0 || len(spans)*len(f.Subject.Relations) > maxSpans {
		return spans
	}
	return extend(spans, sortedUnique(f.Subject.Relations))
}

// reverseSpans narrows a reverse query: subject type, each subject id, each subject
// relation, then the resource type.
func reverseSpans(tenant uint32, sf *datastore.SubjectFilter, opts *datastore.ReverseQueryOptions) [][]byte {
	spans := extend([][]byte{appendTenant(make([]byte, 0, 96), tenant)}, []string{sf.Type})
	if len(sf.IDs) == 0 || len(sf.IDs) > maxSpans {
		return spans
	}
	spans = extend(spans, sortedUnique(sf.IDs))
	if len(sf.Relations) == 0 || len(spans)*len(sf.Relations) > maxSpans {
		return spans
	}
	spans = extend(spans, sortedUnique(sf.Relations))
	if opts.ResourceType == "" {
		return spans
	}
	return extend(spans, []string{opts.ResourceType})
}

// ReadSchema implements datastore.Reader.
func (r *reader) ReadSchema(context.Context) (datastore.StoredSchema, error) {
	if r.err != nil {
		return datastore.StoredSchema{}, r.err
	}
	if _, _, _, gone := r.t.state(); gone != nil {
		return datastore.StoredSchema{}, gone
	}
	var out datastore.StoredSchema
	err := r.s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketSchemas).Cursor()
		var k, v []byte
		if r.rev == maxRevision {
			k, v = c.Seek(appendTenant(nil, r.t.id+1))
		} else {
			k, v = c.Seek(tenantRevKey(r.t.id, r.rev+1))
		}
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k == nil || !hasTenant(k, r.t.id) {
			return fmt.Errorf("tenant %q at revision %d: %w", r.t.name, r.rev, datastore.ErrSchemaNotFound)
		}
		out = datastore.StoredSchema{Text: string(v), Revision: revOfTenantRevKey(k)}
		return nil
	})
	return out, mapErr(err)
}

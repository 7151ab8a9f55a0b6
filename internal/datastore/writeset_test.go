package datastore

import (
	"context"
	"errors"
	"iter"
	"slices"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// sliceReader is a snapshot holding a fixed list of relationships. It answers forward
// queries in key order and records the limits it was asked for.
type sliceReader struct {
	rels   []tuple.Relationship
	err    error // returned after the first relationship, when set
	limits []int
}

func newSliceReader(rels ...string) *sliceReader {
	r := &sliceReader{}
	for _, s := range rels {
		r.rels = append(r.rels, tuple.MustParse(s))
	}
	tuple.Sort(r.rels)
	return r
}

func (r *sliceReader) Revision() Revision { return 1 }

func (r *sliceReader) QueryRelationships(_ context.Context, f RelationshipFilter, opts QueryOptions) iter.Seq2[tuple.Relationship, error] {
	r.limits = append(r.limits, opts.Limit)
	return func(yield func(tuple.Relationship, error) bool) {
		n := 0
		for _, rel := range r.rels {
			if !f.Matches(rel) {
				continue
			}
			if n > 0 && r.err != nil {
				yield(tuple.Relationship{}, r.err)
				return
			}
			if opts.Limit > 0 && n == opts.Limit {
				return
			}
			n++
			if !yield(rel, nil) {
				return
			}
		}
	}
}

func (r *sliceReader) ReverseQueryRelationships(context.Context, SubjectFilter, ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	return func(func(tuple.Relationship, error) bool) {}
}

func (r *sliceReader) ReadSchema(context.Context) (StoredSchema, error) {
	return StoredSchema{}, ErrSchemaNotFound
}

func (r *sliceReader) ReadRecord(context.Context, string, string) (Record, error) {
	return Record{}, ErrRecordNotFound
}

func (r *sliceReader) ListRecords(context.Context, string, RecordQuery) iter.Seq2[Record, error] {
	return func(func(Record, error) bool) {}
}

// lookupRecorder is a LiveLookup over a snapshot's keys that records every batch.
type lookupRecorder struct {
	live    map[tuple.Key]bool
	batches [][]tuple.Key
	err     error
}

func newLookup(snap *sliceReader) *lookupRecorder {
	l := &lookupRecorder{live: map[tuple.Key]bool{}}
	for _, r := range snap.rels {
		l.live[r.Key()] = true
	}
	return l
}

func (l *lookupRecorder) lookup(_ context.Context, keys []tuple.Key, live []bool) error {
	l.batches = append(l.batches, slices.Clone(keys))
	if l.err != nil {
		return l.err
	}
	for i, k := range keys {
		live[i] = l.live[k]
	}
	return nil
}

func ups(op Operation, rels ...string) []Update {
	out := make([]Update, len(rels))
	for i, r := range rels {
		out[i] = Update{Op: op, Relationship: tuple.MustParse(r)}
	}
	return out
}

// pendingText lists the write set's pending writes as "+rel" or "-rel".
func pendingText(w *WriteSet) []string {
	var out []string
	for _, p := range w.Pending() {
		sign := "+"
		if p.Deleted {
			sign = "-"
		}
		out = append(out, sign+tuple.Format(p.Relationship))
	}
	return out
}

func wantPending(t *testing.T, what string, w *WriteSet, want ...string) {
	t.Helper()
	if got := pendingText(w); !slices.Equal(got, want) {
		t.Fatalf("%s: pending %v, want %v", what, got, want)
	}
	if w.Len() != len(want) {
		t.Fatalf("%s: Len() = %d, want %d", what, w.Len(), len(want))
	}
}

func TestWriteSetWriteKeepsFinalStateInFirstWriteOrder(t *testing.T) {
	snap := newSliceReader("doc:a#viewer@user:x")
	l := newLookup(snap)
	w := NewWriteSet(l.lookup)
	ctx := context.Background()
	if err := w.Write(ctx, append(ups(OpTouch, "doc:b#viewer@user:x", `doc:c#viewer@user:x`),
		ups(OpDelete, "doc:a#viewer@user:x")...)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, append(ups(OpTouch, `doc:b#viewer@user:x[only_on:{"n":1}]`),
		ups(OpCreate, "doc:a#viewer@user:x", "doc:d#viewer@user:x")...)); err != nil {
		t.Fatal(err)
	}
	wantPending(t, "after two calls", w,
		`+doc:b#viewer@user:x[only_on:{"n":1}]`, "+doc:c#viewer@user:x", "+doc:a#viewer@user:x", "+doc:d#viewer@user:x")
	// Only the Create of a key not yet written asks the snapshot; one batch per call.
	if len(l.batches) != 1 || len(l.batches[0]) != 1 || l.batches[0][0] != tuple.MustParse("doc:d#viewer@user:x").Key() {
		t.Fatalf("lookup batches %v, want one batch of doc:d", l.batches)
	}
}

func TestWriteSetCreateChecksSnapshotAndPendingState(t *testing.T) {
	cases := []struct {
		name    string
		snap    []string
		before  []Update // an earlier, successful call
		updates []Update
		exists  bool
	}{
		{"new key", nil, nil, ups(OpCreate, "doc:a#viewer@user:x"), false},
		{"live in the snapshot", []string{"doc:a#viewer@user:x"}, nil, ups(OpCreate, "doc:a#viewer@user:x"), true},
		{"deleted by an earlier call", []string{"doc:a#viewer@user:x"}, ups(OpDelete, "doc:a#viewer@user:x"), ups(OpCreate, "doc:a#viewer@user:x"), false},
		{"written by an earlier call", nil, ups(OpTouch, "doc:a#viewer@user:x"), ups(OpCreate, "doc:a#viewer@user:x"), true},
		{"written earlier in the call", nil, nil, ups(OpCreate, "doc:a#viewer@user:x", "doc:a#viewer@user:x"), true},
		{"deleted earlier in the call", []string{"doc:a#viewer@user:x"}, nil,
			append(ups(OpDelete, "doc:a#viewer@user:x"), ups(OpCreate, "doc:a#viewer@user:x")...), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := NewWriteSet(newLookup(newSliceReader(c.snap...)).lookup)
			if err := w.Write(context.Background(), c.before); err != nil {
				t.Fatal(err)
			}
			err := w.Write(context.Background(), c.updates)
			var exists *RelationshipExistsError
			if got := errors.As(err, &exists); got != c.exists {
				t.Fatalf("Write returned %v, want a RelationshipExistsError: %v", err, c.exists)
			}
			if c.exists && exists.Relationship != tuple.MustParse("doc:a#viewer@user:x").Key() {
				t.Fatalf("the error names %s", exists.Relationship)
			}
		})
	}
}

func TestWriteSetFailingCallChangesNothing(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	cases := []struct {
		name    string
		updates []Update
		lookErr error
		want    error
	}{
		{"create of a live key in the middle",
			append(append(ups(OpTouch, `doc:b#viewer@user:x[only_on:{"n":2}]`, "doc:new#viewer@user:x"), ups(OpDelete, "doc:c#viewer@user:x")...),
				append(ups(OpCreate, "doc:live#viewer@user:x"), ups(OpTouch, "doc:after#viewer@user:x")...)...),
			nil, &RelationshipExistsError{}},
		{"create of a key written before",
			append(ups(OpDelete, "doc:b#viewer@user:x"), ups(OpCreate, "doc:c#viewer@user:x", "doc:new#viewer@user:x", "doc:c#viewer@user:x")...),
			nil, &RelationshipExistsError{}},
		{"unknown operation",
			append(ups(OpTouch, "doc:new#viewer@user:x", "doc:b#viewer@user:x"), Update{Op: Operation(99), Relationship: tuple.MustParse("doc:q#viewer@user:x")}),
			nil, ErrInvalidArgument},
		{"failing lookup", ups(OpCreate, "doc:new#viewer@user:x"), boom, boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLookup(newSliceReader("doc:live#viewer@user:x"))
			w := NewWriteSet(l.lookup)
			if err := w.Write(ctx, append(ups(OpTouch, "doc:b#viewer@user:x"), ups(OpCreate, "doc:c#viewer@user:x")...)); err != nil {
				t.Fatal(err)
			}
			before := pendingText(w)
			l.err = c.lookErr
			err := w.Write(ctx, c.updates)
			var exists *RelationshipExistsError
			switch want := c.want.(type) {
			case *RelationshipExistsError:
				if !errors.As(err, &exists) {
					t.Fatalf("Write returned %v, want a RelationshipExistsError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("Write returned %v, want %v", err, want)
				}
			}
			wantPending(t, "after the failing call", w, before...)
			// The write set still works: what the failing call wrote can be written now.
			l.err = nil
			if err := w.Write(ctx, ups(OpCreate, "doc:new#viewer@user:x")); err != nil {
				t.Fatalf("a Create after the failing call: %v", err)
			}
			wantPending(t, "after the next call", w, append(before, "+doc:new#viewer@user:x")...)
		})
	}
}

func TestWriteSetDeleteMatchingOverlaysPendingWrites(t *testing.T) {
	ctx := context.Background()
	snap := newSliceReader("doc:a#viewer@user:1", "doc:a#viewer@user:3", "doc:a#viewer@user:5", "doc:a#viewer@user:7", "doc:b#viewer@user:1")
	w := NewWriteSet(newLookup(snap).lookup)
	// Pending: 2 and 6 added, 3 deleted, 5 rewritten with a caveat.
	if err := w.Write(ctx, append(append(ups(OpTouch, "doc:a#viewer@user:6", "doc:a#viewer@user:2"), ups(OpDelete, "doc:a#viewer@user:3")...),
		ups(OpTouch, `doc:a#viewer@user:5[only_on:{"n":5}]`)...)); err != nil {
		t.Fatal(err)
	}
	f := RelationshipFilter{ResourceType: "doc", ResourceIDs: []string{"a"}}
	steps := []struct {
		limit int
		want  []string
		more  bool
	}{
		{2, []string{"doc:a#viewer@user:1", "doc:a#viewer@user:2"}, true},
		{2, []string{`doc:a#viewer@user:5[only_on:{"n":5}]`, "doc:a#viewer@user:6"}, true},
		{0, []string{"doc:a#viewer@user:7"}, false},
		{3, nil, false},
	}
	for i, s := range steps {
		got, more, err := w.DeleteMatching(ctx, snap, f, s.limit)
		if err != nil {
			t.Fatal(err)
		}
		var text []string
		for _, r := range got {
			text = append(text, tuple.Format(r))
		}
		if !slices.Equal(text, s.want) || more != s.more {
			t.Fatalf("step %d: DeleteMatching(limit %d) = %v more=%v, want %v more=%v", i, s.limit, text, more, s.want, s.more)
		}
	}
	wantPending(t, "after deleting doc:a", w,
		"-doc:a#viewer@user:6", "-doc:a#viewer@user:2", "-doc:a#viewer@user:3", `-doc:a#viewer@user:5[only_on:{"n":5}]`,
		"-doc:a#viewer@user:1", "-doc:a#viewer@user:7")
	// The snapshot is asked for no more than the limit, the pending keys that match
	// and one to tell whether there are more.
	if want := []int{2 + 4 + 1, 2 + 5 + 1, 0, 3 + 6 + 1}; !slices.Equal(snap.limits, want) {
		t.Fatalf("snapshot limits %v, want %v", snap.limits, want)
	}
}

func TestWriteSetFailingDeleteChangesNothing(t *testing.T) {
	snap := newSliceReader("doc:a#viewer@user:1", "doc:a#viewer@user:2")
	w := NewWriteSet(newLookup(snap).lookup)
	f := RelationshipFilter{ResourceType: "doc"}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := w.DeleteMatching(cancelled, snap, f, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("DeleteMatching with a cancelled context returned %v", err)
	}
	snap.err = errors.New("connection lost")
	if _, _, err := w.DeleteMatching(context.Background(), snap, f, 0); !errors.Is(err, snap.err) {
		t.Fatalf("DeleteMatching over a failing snapshot returned %v", err)
	}
	wantPending(t, "after the failing deletes", w)
}

// TestWriteSetKeysSharingAHash drives the index through keys whose hashes collide,
// which real keys almost never do: each key is still found, and taking entries back
// restores the chain.
func TestWriteSetKeysSharingAHash(t *testing.T) {
	w := NewWriteSet(nil)
	rels := []tuple.Relationship{tuple.MustParse("doc:a#viewer@user:x"), tuple.MustParse("doc:b#viewer@user:x"), tuple.MustParse("doc:c#viewer@user:x")}
	const h = 42
	w.add(h, PendingWrite{Relationship: rels[0]})
	w.add(h, PendingWrite{Relationship: rels[1]})
	w.add(h, PendingWrite{Relationship: rels[2]})
	for i := range rels {
		if got := w.find(h, &rels[i]); got != i {
			t.Fatalf("find(%s) = %d, want %d", tuple.Format(rels[i]), got, i)
		}
	}
	other := tuple.MustParse("doc:d#viewer@user:x")
	if got := w.find(h, &other); got != -1 {
		t.Fatalf("find of a key not written = %d, want -1", got)
	}
	w.rollback(1)
	if w.find(h, &rels[0]) != 0 || w.find(h, &rels[1]) != -1 || w.find(h, &rels[2]) != -1 || w.Len() != 1 {
		t.Fatalf("after taking back two entries: %v", pendingText(w))
	}
	w.rollback(0)
	if len(w.heads) != 0 || w.Len() != 0 {
		t.Fatalf("after taking back every entry the index holds %d hashes", len(w.heads))
	}
}

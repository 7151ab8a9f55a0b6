package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"iter"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// bucketDecisions holds the decision log: one nested bucket per tenant name, keyed
// by the decision's time (8 bytes, Unix nanoseconds, big-endian) and a sequence (8
// bytes), so a tenant's decisions are in time order and retention deletes from the
// front. Values are the decision as JSON. The bucket is created on first use, so
// files written before the decision log existed stay valid.
var bucketDecisions = []byte("decisions")

const decisionKeyLen = 16

var _ datastore.DecisionStore = (*Store)(nil)

func decisionKey(t time.Time, seq uint64) []byte {
	var k [decisionKeyLen]byte
	binary.BigEndian.PutUint64(k[:8], uint64(t.UnixNano()))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k[:]
}

// WriteDecisions implements datastore.DecisionStore: one bbolt transaction per batch.
func (s *Store) WriteDecisions(_ context.Context, ds []datastore.Decision) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketDecisions)
		if err != nil {
			return err
		}
		for _, d := range ds {
			b, err := root.CreateBucketIfNotExists([]byte(d.Tenant))
			if err != nil {
				return err
			}
			if d.Seq, err = b.NextSequence(); err != nil {
				return err
			}
			v, err := json.Marshal(d)
			if err != nil {
				return err
			}
			if err := b.Put(decisionKey(d.Time, d.Seq), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadDecisions implements datastore.DecisionStore. Each tenant is read newest first
// from the upper time bound up to the limit, and the tenants are merged.
func (s *Store) ReadDecisions(ctx context.Context, f datastore.DecisionFilter) iter.Seq2[datastore.Decision, error] {
	return func(yield func(datastore.Decision, error) bool) {
		if err := s.enter(); err != nil {
			yield(datastore.Decision{}, err)
			return
		}
		var out []datastore.Decision
		err := s.db.View(func(tx *bbolt.Tx) error {
			root := tx.Bucket(bucketDecisions)
			if root == nil {
				return nil
			}
			for _, tenant := range f.Tenants {
				b := root.Bucket([]byte(tenant))
				if b == nil {
					continue
				}
				got, err := readTenantDecisions(ctx, b, f)
				if err != nil {
					return err
				}
				out = append(out, got...)
			}
			return nil
		})
		s.leave()
		if err != nil {
			yield(datastore.Decision{}, err)
			return
		}
		slices.SortFunc(out, func(a, b datastore.Decision) int {
			if datastore.NewerDecision(&a, &b) {
				return -1
			}
			return 1
		})
		if f.Limit > 0 && len(out) > f.Limit {
			out = out[:f.Limit]
		}
		for _, d := range out {
			if !yield(d, nil) {
				return
			}
		}
	}
}

func readTenantDecisions(ctx context.Context, b *bbolt.Bucket, f datastore.DecisionFilter) ([]datastore.Decision, error) {
	c := b.Cursor()
	var k, v []byte
	upper := f.Until
	if f.Before != nil && (upper.IsZero() || f.Before.Time.Before(upper)) {
		upper = f.Before.Time.Add(1) // the cursor's instant itself may hold later entries
	}
	if upper.IsZero() {
		k, v = c.Last()
	} else if k, v = c.Seek(decisionKey(upper, 0)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var out []datastore.Decision
	for ; k != nil; k, v = c.Prev() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !f.Since.IsZero() && int64(binary.BigEndian.Uint64(k[:8])) < f.Since.UnixNano() {
			break
		}
		var d datastore.Decision
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, err
		}
		if !f.Matches(&d) {
			continue
		}
		out = append(out, d)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// deleteTenantDecisions removes a deleted tenant's decisions, so a tenant created
// later with the same name starts with none.
func deleteTenantDecisions(tx *bbolt.Tx, name string) error {
	root := tx.Bucket(bucketDecisions)
	if root == nil || root.Bucket([]byte(name)) == nil {
		return nil
	}
	return root.DeleteBucket([]byte(name))
}

// DeleteDecisionsBefore implements datastore.DecisionStore: each tenant's decisions
// are in time order, so only the keys before the bound are visited.
func (s *Store) DeleteDecisionsBefore(_ context.Context, t time.Time) (int, error) {
	return s.deleteDecisionsWhere(func([]byte) bool { return true }, decisionKey(t, 0), nil)
}

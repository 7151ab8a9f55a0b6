package bolt

import (
	"context"
	"iter"

	bbolt "go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// logChunk is how many log records one read transaction decodes.
const logChunk = 64

// Watch implements datastore.Datastore. It reads the log in revision order in short
// read transactions and waits on the tenant's commit notification when caught up.
func (s *Store) Watch(ctx context.Context, name string, after datastore.Revision) iter.Seq2[*datastore.Transaction, error] {
	return func(yield func(*datastore.Transaction, error) bool) {
		t, err := s.tenant(name)
		if err != nil {
			yield(nil, err)
			return
		}
		next := after
		for {
			head, _, changed, gone := t.state()
			if gone != nil {
				yield(nil, gone)
				return
			}
			if next > head {
				yield(nil, &datastore.RevisionError{Revision: next, Head: head})
				return
			}
			if next == head {
				select {
				case <-ctx.Done():
					yield(nil, ctx.Err())
					return
				case <-changed:
				}
				continue
			}
			batch, err := s.readLog(t, next, head)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, txn := range batch {
				if !yield(txn, nil) {
					return
				}
				next = txn.Revision
			}
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
		}
	}
}

// readLog returns up to logChunk records after revision next, which must be below
// head. It fails with a TooOld RevisionError when record next+1 is no longer kept.
func (s *Store) readLog(t *tenant, next, head datastore.Revision) ([]*datastore.Transaction, error) {
	var batch []*datastore.Transaction
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		want := next + 1
		for k, v := c.Seek(tenantRevKey(t.id, want)); hasTenant(k, t.id) && len(batch) < logChunk; k, v = c.Next() {
			// A record past the head is committed but not yet published; it comes
			// with the next notification.
			rev := revOfTenantRevKey(k)
			if rev != want || rev > head {
				break
			}
			txn, err := decodeTransaction(rev, v)
			if err != nil {
				return err
			}
			batch = append(batch, txn)
			want++
		}
		if len(batch) == 0 {
			oldest := head
			if k, _ := c.Seek(tenantPrefix(t.id)); hasTenant(k, t.id) {
				oldest = revOfTenantRevKey(k) - 1
			}
			return &datastore.RevisionError{Revision: next, TooOld: true, Oldest: oldest, Head: head}
		}
		return nil
	})
	return batch, mapErr(err)
}

// ReadTransactions implements datastore.Datastore. Records are read newest first in
// chunks; commit times never decrease with revision, so a Since bound ends the scan.
func (s *Store) ReadTransactions(ctx context.Context, name string, f datastore.TransactionFilter) iter.Seq2[*datastore.Transaction, error] {
	return func(yield func(*datastore.Transaction, error) bool) {
		t, err := s.tenant(name)
		if err != nil {
			yield(nil, err)
			return
		}
		head, _, _, gone := t.state()
		if gone != nil {
			yield(nil, gone)
			return
		}
		// Records strictly below `below` remain to be read.
		below := head + 1
		if f.Before != 0 && f.Before < below {
			below = f.Before
		}
		sent := 0
		for below > 1 {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			var batch []*datastore.Transaction
			done := false
			err := s.db.View(func(tx *bbolt.Tx) error {
				c := tx.Bucket(bucketLog).Cursor()
				k, v := c.Seek(tenantRevKey(t.id, below))
				if k == nil {
					k, v = c.Last()
				} else {
					k, v = c.Prev()
				}
				for n := 0; ; n++ {
					if !hasTenant(k, t.id) {
						done = true
						return nil
					}
					if n == logChunk {
						return nil
					}
					rev := revOfTenantRevKey(k)
					below = rev
					at := recordTime(v)
					if !f.Since.IsZero() && at.Before(f.Since) {
						done = true
						return nil
					}
					if f.Until.IsZero() || at.Before(f.Until) {
						txn, err := decodeTransaction(rev, v)
						if err != nil {
							return err
						}
						if f.Matches(txn) {
							batch = append(batch, txn)
						}
					}
					k, v = c.Prev()
				}
			})
			if err != nil {
				yield(nil, mapErr(err))
				return
			}
			for _, txn := range batch {
				if !yield(txn, nil) {
					return
				}
				sent++
				if f.Limit > 0 && sent >= f.Limit {
					return
				}
			}
			if done {
				return
			}
		}
	}
}

package bolt

import (
	"context"
	"encoding/json"

	"go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

var _ datastore.SubjectEraser = (*Store)(nil)

// eraseChunk is how many log records one bbolt transaction of an erasure reads, so
// a long audit trail is rewritten in bounded steps.
const eraseChunk = 1024

// PseudonymizeAudit implements datastore.SubjectEraser: it holds the tenant's
// writer lock, so no commit interleaves, and rewrites the log records that name the
// subject in chunks, oldest first. The times bucket is unchanged: commit times stay.
func (s *Store) PseudonymizeAudit(ctx context.Context, name string, subject, pseudonym tuple.ObjectRef) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	t, err := s.tenant(name)
	if err != nil {
		return 0, err
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	rewritten := 0
	next := tenantRevKey(t.id, 1)
	for next != nil {
		if err := ctx.Err(); err != nil {
			return rewritten, err
		}
		err := s.db.Update(func(btx *bbolt.Tx) error {
			b := btx.Bucket(bucketLog)
			c := b.Cursor()
			k, v := c.Seek(next)
			next = nil
			type put struct{ k, v []byte }
			var puts []put
			for n := 0; k != nil && hasTenant(k, t.id); n++ {
				if n == eraseChunk {
					next = append([]byte(nil), k...)
					break
				}
				tx, err := decodeTransaction(revOfTenantRevKey(k), v)
				if err != nil {
					return err
				}
				if out, ok := datastore.PseudonymizeTransaction(tx, subject, pseudonym); ok {
					puts = append(puts, put{append([]byte(nil), k...), appendTransaction(nil, out)})
				}
				k, v = c.Next()
			}
			for _, p := range puts {
				if err := b.Put(p.k, p.v); err != nil {
					return err
				}
			}
			rewritten += len(puts)
			return nil
		})
		if err != nil {
			return rewritten, mapErr(err)
		}
	}
	return rewritten, nil
}

// DeleteSubjectDecisions implements datastore.SubjectEraser, scanning the tenant's
// decisions in one transaction.
func (s *Store) DeleteSubjectDecisions(_ context.Context, tenant string, subject tuple.ObjectRef) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		root := tx.Bucket(bucketDecisions)
		if root == nil {
			return nil
		}
		b := root.Bucket([]byte(tenant))
		if b == nil {
			return nil
		}
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var d datastore.Decision
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if d.Subject.Object() == subject {
				doomed = append(doomed, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, mapErr(err)
}

package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

var _ datastore.SubjectEraser = (*Store)(nil)

// eraseChunk is how many log records one bbolt transaction of an erasure reads, so
// a long audit trail is rewritten in bounded steps.
const eraseChunk = 1024

// PseudonymizeAudit implements datastore.SubjectEraser.
func (s *Store) PseudonymizeAudit(ctx context.Context, name string, subject, pseudonym tuple.ObjectRef) (int, error) {
	return s.rewriteLog(ctx, name, func(tx *datastore.Transaction) (*datastore.Transaction, bool) {
		return datastore.PseudonymizeTransaction(tx, subject, pseudonym)
	})
}

// RedactRefusalsBefore implements datastore.RefusalRedactor.
func (s *Store) RedactRefusalsBefore(ctx context.Context, name string, before time.Time) (int, error) {
	return s.rewriteLog(ctx, name, func(tx *datastore.Transaction) (*datastore.Transaction, bool) {
		return datastore.RedactRefusal(tx, before)
	})
}

// rewriteLog replaces each log record of the tenant that fn rewrites. It holds the
// tenant's writer lock, so no commit interleaves, and goes through the log in chunks,
// oldest first. Revisions and commit times (and the times bucket) stay.
func (s *Store) rewriteLog(ctx context.Context, name string, fn func(*datastore.Transaction) (*datastore.Transaction, bool)) (int, error) {
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
				if out, ok := fn(tx); ok {
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

// DeleteSubjectDecisions implements datastore.SubjectEraser.
func (s *Store) DeleteSubjectDecisions(_ context.Context, tenant string, subject tuple.ObjectRef) (int, error) {
	return s.deleteDecisionsWhere(func(name []byte) bool { return string(name) == tenant }, nil,
		func(d *datastore.Decision) bool { return d.Subject.Object() == subject })
}

var _ datastore.DecisionRetainer = (*Store)(nil)

// DeleteDecisionsWithResultBefore implements datastore.DecisionRetainer.
func (s *Store) DeleteDecisionsWithResultBefore(_ context.Context, result string, t time.Time) (int, error) {
	return s.deleteDecisionsWhere(func([]byte) bool { return true }, decisionKey(t, 0),
		func(d *datastore.Decision) bool { return d.Result == result })
}

// deleteDecisionsWhere deletes, in the tenants whose bucket name passes tenant, the
// decisions keyed below bound (nil: all) that pass pred (nil: every one, without
// decoding), in one transaction.
func (s *Store) deleteDecisionsWhere(tenant func(name []byte) bool, bound []byte, pred func(*datastore.Decision) bool) (int, error) {
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
		return root.ForEachBucket(func(name []byte) error {
			if !tenant(name) {
				return nil
			}
			b := root.Bucket(name)
			// Collected first: deleting under a moving cursor can skip keys.
			var doomed [][]byte
			c := b.Cursor()
			for k, v := c.First(); k != nil && (bound == nil || bytes.Compare(k, bound) < 0); k, v = c.Next() {
				if pred != nil {
					var d datastore.Decision
					if err := json.Unmarshal(v, &d); err != nil {
						return err
					}
					if !pred(&d) {
						continue
					}
				}
				doomed = append(doomed, slices.Clone(k))
			}
			for _, k := range doomed {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(doomed)
			return nil
		})
	})
	return n, mapErr(err)
}

package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

var _ datastore.SubjectEraser = (*Store)(nil)

// eraseCandidates finds the revisions whose log rows may name the subject: by the
// audit index of objects, by grantor, by actor, and by its text in the reason, the
// refusal, the grant records and the record changes. PseudonymizeTransaction then
// decides exactly. strpos and ::TEXT are accepted by PostgreSQL and CockroachDB.
const eraseCandidates = `
SELECT revision FROM transaction_objects WHERE tenant = $1 AND object_type = $2 AND object_id = $3
UNION
SELECT revision FROM transaction_changes WHERE tenant = $1
	AND ((granted_by_type = $2 AND granted_by_id = $3) OR (granted_via_type = $2 AND granted_via_id = $3))
UNION
SELECT revision FROM transactions WHERE tenant = $1 AND ((actor_type = $2 AND actor_id = $3)
	OR strpos(reason, $4) > 0 OR strpos(COALESCE(denied::TEXT, ''), $4) > 0
	OR strpos(COALESCE(grants::TEXT, ''), $4) > 0 OR strpos(COALESCE(record_changes::TEXT, ''), $4) > 0)
ORDER BY revision`

// PseudonymizeAudit implements datastore.SubjectEraser.
func (s *Store) PseudonymizeAudit(ctx context.Context, tenant string, subject, pseudonym tuple.ObjectRef) (int, error) {
	return s.rewriteLog(ctx, tenant, func(ctx context.Context, q pgx.Tx) ([]int64, error) {
		rows, err := q.Query(ctx, eraseCandidates, tenant, subject.Type, subject.ID, subject.String())
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[int64])
	}, func(tx *datastore.Transaction) (*datastore.Transaction, bool) {
		return datastore.PseudonymizeTransaction(tx, subject, pseudonym)
	})
}

// RedactRefusalsBefore implements datastore.RefusalRedactor, finding the refusals
// by their denied column and commit time.
func (s *Store) RedactRefusalsBefore(ctx context.Context, tenant string, before time.Time) (int, error) {
	return s.rewriteLog(ctx, tenant, func(ctx context.Context, q pgx.Tx) ([]int64, error) {
		rows, err := q.Query(ctx, `SELECT revision FROM transactions WHERE tenant = $1 AND denied IS NOT NULL AND committed_at < $2
			AND strpos(denied::TEXT, $3) = 0 ORDER BY revision`, tenant, before, datastore.RedactedRefusal)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[int64])
	}, func(tx *datastore.Transaction) (*datastore.Transaction, bool) {
		return datastore.RedactRefusal(tx, before)
	})
}

// rewriteLog replaces each log row, among the revisions candidates finds, that fn
// rewrites: the transaction, its changes and its audit index entries, in one
// transaction. It holds the tenant's revision counter row locked, as a write
// transaction does, so no write commits meanwhile.
func (s *Store) rewriteLog(ctx context.Context, tenant string, candidates func(context.Context, pgx.Tx) ([]int64, error), fn func(*datastore.Transaction) (*datastore.Transaction, bool)) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	dbtx, err := s.pool.BeginTx(ctx, s.txOptions)
	if err != nil {
		return 0, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = dbtx.Rollback(rctx) // a no-op after Commit
		cancel()
	}()
	var head int64
	err = dbtx.QueryRow(ctx, `SELECT head FROM tenant_heads WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&head)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, datastore.TenantNotFound(tenant)
	}
	if err != nil {
		return 0, err
	}
	revs, err := candidates(ctx, dbtx)
	if err != nil {
		return 0, err
	}
	rewritten := 0
	for _, rev := range revs {
		var tx *datastore.Transaction
		for t, err := range s.ReadTransactions(ctx, tenant, datastore.TransactionFilter{Before: datastore.Revision(rev) + 1, Limit: 1}) {
			if err != nil {
				return 0, err
			}
			tx = t
		}
		if tx == nil || int64(tx.Revision) != rev {
			continue // collected meanwhile
		}
		out, ok := fn(tx)
		if !ok {
			continue
		}
		batch := &pgx.Batch{}
		for _, table := range []string{"transactions", "transaction_changes", "transaction_objects"} {
			batch.Queue(`DELETE FROM `+table+` WHERE tenant = $1 AND revision = $2`, tenant, rev)
		}
		if err := queueLog(batch, tenant, rev, out.Time, out.Metadata, out.Schema, out.Changes, out.RecordChanges); err != nil {
			return 0, err
		}
		if err := dbtx.SendBatch(ctx, batch).Close(); err != nil {
			return 0, err
		}
		rewritten++
	}
	if err := dbtx.Commit(ctx); err != nil {
		return 0, err
	}
	return rewritten, nil
}

// DeleteSubjectDecisions implements datastore.SubjectEraser through the index of
// decisions by subject.
func (s *Store) DeleteSubjectDecisions(ctx context.Context, tenant string, subject tuple.ObjectRef) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	tag, err := s.pool.Exec(ctx, `DELETE FROM decisions WHERE tenant = $1 AND subject_type = $2 AND subject_id = $3`, tenant, subject.Type, subject.ID)
	if err != nil {
		return 0, classifyErr(err)
	}
	return int(tag.RowsAffected()), nil
}

var _ datastore.DecisionRetainer = (*Store)(nil)

// DeleteDecisionsWithResultBefore implements datastore.DecisionRetainer.
func (s *Store) DeleteDecisionsWithResultBefore(ctx context.Context, result string, t time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	tag, err := s.pool.Exec(ctx, `DELETE FROM decisions WHERE decided_at < $1 AND result = $2`, t, result)
	if err != nil {
		return 0, classifyErr(err)
	}
	return int(tag.RowsAffected()), nil
}

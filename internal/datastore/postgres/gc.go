package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// gcBatch is how many rows one garbage-collection statement deletes, so no
// transaction grows large (CockroachDB prefers small ones).
const gcBatch = 5000

// GarbageCollect implements datastore.Datastore. Per tenant it first raises the oldest
// readable revision to the GC horizon (the newest revision committed at or before now
// minus GCWindow) and commits that, so CheckRevision refuses older tokens before any
// row they could see disappears; then it deletes, in small batches, relationship
// versions deleted at or before the horizon, expired relationships, schemas superseded
// before the horizon and, separately, audit records older than AuditRetention.
func (s *Store) GarbageCollect(ctx context.Context) (datastore.GCStats, error) {
	if err := s.enter(); err != nil {
		return datastore.GCStats{}, err
	}
	defer s.leave()
	tenants, err := s.ListTenants(ctx)
	if err != nil {
		return datastore.GCStats{}, err
	}
	var total datastore.GCStats
	now := s.opts.Now()
	for _, t := range tenants {
		st, err := s.collect(ctx, t.Name, now)
		total.Relationships += st.Relationships
		total.Transactions += st.Transactions
		total.Schemas += st.Schemas
		total.Records += st.Records
		if err != nil {
			return total, classifyErr(err)
		}
	}
	return total, nil
}

func (s *Store) collect(ctx context.Context, tenant string, now time.Time) (datastore.GCStats, error) {
	var st datastore.GCStats
	cutoff := now.Add(-s.opts.GCWindow)
	var horizon int64
	err := s.retry(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT GREATEST(
				(SELECT oldest FROM tenants WHERE name = $1),
				COALESCE((SELECT max(revision) FROM transactions WHERE tenant = $1 AND committed_at <= $2), 0))`,
			tenant, cutoff).Scan(&horizon)
	})
	if err != nil {
		return st, err
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `UPDATE tenants SET oldest = $2 WHERE name = $1 AND oldest < $2`, tenant, horizon)
		return err
	})
	if err != nil {
		return st, err
	}

	// Relationship versions no readable revision sees, and expired relationships,
	// which no reader sees whatever its revision. Ended versions first: they are not
	// in the tenant's relationship count.
	st.Relationships, err = s.deleteBatches(ctx, `DELETE FROM relationships
		WHERE (tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_rev) IN (
			SELECT tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_rev
			FROM relationships
			WHERE tenant = $1 AND deleted_rev IS NOT NULL AND (deleted_rev <= $2 OR (expires_at IS NOT NULL AND expires_at <= $3))
			LIMIT `+strconv.Itoa(gcBatch)+`)`, tenant, horizon, now)
	if err != nil {
		return st, err
	}
	expired, err := s.collectExpired(ctx, tenant, now)
	st.Relationships += expired
	if err != nil {
		return st, err
	}

	st.Records, err = s.collectRecords(ctx, tenant, horizon)
	if err != nil {
		return st, err
	}

	// Schemas: keep the newest one at or before the horizon, drop the older ones.
	st.Schemas, err = s.deleteBatches(ctx, `DELETE FROM schemas WHERE tenant = $1 AND revision < (
			SELECT max(revision) FROM schemas WHERE tenant = $1 AND revision <= $2)`, tenant, horizon)
	if err != nil {
		return st, err
	}

	if s.opts.AuditRetention > 0 {
		auditCutoff := now.Add(-s.opts.AuditRetention)
		for {
			var revs []int64
			err := s.retry(ctx, func(ctx context.Context) error {
				revs = revs[:0]
				rows, err := s.pool.Query(ctx, `SELECT revision FROM transactions WHERE tenant = $1 AND committed_at < $2 ORDER BY revision LIMIT `+strconv.Itoa(gcBatch/10), tenant, auditCutoff)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var r int64
					if err := rows.Scan(&r); err != nil {
						return err
					}
					revs = append(revs, r)
				}
				return rows.Err()
			})
			if err != nil || len(revs) == 0 {
				return st, err
			}
			err = s.retry(ctx, func(ctx context.Context) error {
				tx, err := s.pool.BeginTx(ctx, s.txOptions)
				if err != nil {
					return err
				}
				defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
				for _, table := range []string{"transaction_changes", "transaction_objects", "transactions"} {
					if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE tenant = $1 AND revision = ANY($2::BIGINT[])`, tenant, revs); err != nil {
						return err
					}
				}
				return tx.Commit(ctx)
			})
			if err != nil {
				return st, err
			}
			st.Transactions += int64(len(revs))
		}
	}
	return st, nil
}

// collectExpired deletes the tenant's live relationships that have expired, in
// batches, and takes them off its relationship count. Each batch holds the tenant's
// counter row, as writers do, so the count stays exact while they commit.
func (s *Store) collectExpired(ctx context.Context, tenant string, now time.Time) (int64, error) {
	return s.inBatches(ctx, func(ctx context.Context) (int64, error) {
		tx, err := s.pool.BeginTx(ctx, s.txOptions)
		if err != nil {
			return 0, err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		if _, err := tx.Exec(ctx, `SELECT head FROM tenant_heads WHERE tenant = $1 FOR UPDATE`, tenant); err != nil {
			return 0, err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM relationships
			WHERE (tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_rev) IN (
				SELECT tenant, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_rev
				FROM relationships
				WHERE tenant = $1 AND deleted_rev IS NULL AND expires_at IS NOT NULL AND expires_at <= $2
				LIMIT `+strconv.Itoa(gcBatch)+`)`, tenant, now)
		if err != nil {
			return 0, err
		}
		n := tag.RowsAffected()
		if n > 0 {
			if _, err := tx.Exec(ctx, `UPDATE tenant_heads SET relationship_count = relationship_count - $2 WHERE tenant = $1`, tenant, n); err != nil {
				return 0, err
			}
		}
		return n, tx.Commit(ctx)
	})
}

// deleteBatches runs a DELETE until it deletes nothing or fewer rows than a batch,
// and returns how many rows it deleted.
func (s *Store) deleteBatches(ctx context.Context, sql string, args ...any) (int64, error) {
	return s.inBatches(ctx, func(ctx context.Context) (int64, error) {
		tag, err := s.pool.Exec(ctx, sql, args...)
		return tag.RowsAffected(), err
	})
}

// inBatches runs batch, each run retried on its own, until a run deletes fewer rows
// than gcBatch, and returns how many rows the runs deleted.
func (s *Store) inBatches(ctx context.Context, batch func(ctx context.Context) (int64, error)) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int64
		err := s.retry(ctx, func(ctx context.Context) error {
			var err error
			n, err = batch(ctx)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < gcBatch {
			return total, nil
		}
	}
}

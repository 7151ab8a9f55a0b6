package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// watchBatch is how many transactions one Watch poll reads.
const watchBatch = 64

// Watch implements datastore.Datastore. It polls the transaction log every
// WatchPollInterval, and at once after a commit through this Store. Revisions commit
// in order with no gaps, so reading the log after the last revision seen never skips
// a transaction.
func (s *Store) Watch(ctx context.Context, tenant string, after datastore.Revision) iter.Seq2[*datastore.Transaction, error] {
	return func(yield func(*datastore.Transaction, error) bool) {
		next := after
		for {
			// Take the wake-up channel before reading, so a commit that lands
			// between the read and the wait is not missed.
			wait := s.changed(tenant)
			batch, err := s.watchPoll(ctx, tenant, next)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, tx := range batch {
				if !yield(tx, nil) {
					return
				}
				next = tx.Revision
			}
			if len(batch) == watchBatch {
				continue
			}
			timer := time.NewTimer(s.opts.WatchPollInterval)
			select {
			case <-ctx.Done():
				timer.Stop()
				yield(nil, ctx.Err())
				return
			case <-s.done:
				timer.Stop()
				yield(nil, datastore.ErrClosed)
				return
			case <-wait:
			case <-timer.C:
			}
			timer.Stop()
		}
	}
}

// watchPoll reads the transactions after next, checking first that next is still in
// the log and not beyond the head.
func (s *Store) watchPoll(ctx context.Context, tenant string, next datastore.Revision) ([]*datastore.Transaction, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	// The head is read before the log: every revision up to it is committed, so an
	// empty read below a known head means the log lost those entries.
	head, _, err := s.heads(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if next > head {
		return nil, &datastore.RevisionError{Revision: next, Head: head}
	}
	var batch []*datastore.Transaction
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		batch, err = s.loadTransactions(ctx, tenant, "revision > $2 ORDER BY revision LIMIT $3", int64(next), watchBatch)
		return err
	})
	if err != nil {
		return nil, classifyErr(err)
	}
	if (len(batch) == 0 && head > next) || (len(batch) > 0 && batch[0].Revision != next+1) {
		oldest, err := s.oldestLogged(ctx, tenant)
		if err != nil {
			return nil, err
		}
		return nil, &datastore.RevisionError{Revision: next, TooOld: true, Oldest: oldest, Head: head}
	}
	return batch, nil
}

// oldestLogged is the revision a Watch can still start after: the one before the
// oldest transaction kept in the log.
func (s *Store) oldestLogged(ctx context.Context, tenant string) (datastore.Revision, error) {
	var oldest *int64
	err := s.retry(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT min(revision) FROM transactions WHERE tenant = $1`, tenant).Scan(&oldest)
	})
	if err != nil || oldest == nil {
		return 0, classifyErr(err)
	}
	return datastore.Revision(*oldest - 1), nil
}

const txColumns = `revision, committed_at, principal, actor_type, actor_id, actor_relation, reason, operation, organizations, grants, schema_text, denied, record_changes`

// loadTransactions reads whole transactions (metadata and changes) of a tenant; cond
// continues the WHERE clause after "tenant = $1" and may order and limit.
func (s *Store) loadTransactions(ctx context.Context, tenant, cond string, args ...any) ([]*datastore.Transaction, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+txColumns+` FROM transactions WHERE tenant = $1 AND `+cond, append([]any{tenant}, args...)...)
	if err != nil {
		return nil, err
	}
	var (
		out   []*datastore.Transaction
		revs  []int64
		index = map[datastore.Revision]*datastore.Transaction{}
	)
	for rows.Next() {
		var (
			t                           datastore.Transaction
			rev                         int64
			actorType, actorID, actorRl *string
			orgs, grants, denied, rcs   []byte
		)
		if err := rows.Scan(&rev, &t.Time, &t.Metadata.Principal, &actorType, &actorID, &actorRl,
			&t.Metadata.Reason, &t.Metadata.Operation, &orgs, &grants, &t.Schema, &denied, &rcs); err != nil {
			rows.Close()
			return nil, err
		}
		t.Revision = datastore.Revision(rev)
		t.Time = t.Time.UTC()
		if actorType != nil {
			a := tuple.SubjectRef{Type: *actorType}
			if actorID != nil {
				a.ID = *actorID
			}
			if actorRl != nil {
				a.Relation = *actorRl
			}
			t.Metadata.Actor = &a
		}
		if len(orgs) > 0 {
			if err := json.Unmarshal(orgs, &t.Metadata.Organizations); err != nil {
				rows.Close()
				return nil, fmt.Errorf("stored organisations of revision %d: %w", rev, err)
			}
		}
		if len(grants) > 0 {
			var gs []grantJSON
			if err := json.Unmarshal(grants, &gs); err != nil {
				rows.Close()
				return nil, fmt.Errorf("stored grants of revision %d: %w", rev, err)
			}
			for _, g := range gs {
				t.Metadata.Grants = append(t.Metadata.Grants, datastore.GrantRecord{Relationship: g.Key, Rule: g.Rule, Via: g.Via})
			}
		}
		if len(denied) > 0 {
			d, err := decodeDenial(denied)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("stored refusal of revision %d: %w", rev, err)
			}
			t.Metadata.Denied = d
		}
		if t.RecordChanges, err = decodeRecordChanges(t.Revision, rcs); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, &t)
		revs = append(revs, rev)
		index[t.Revision] = &t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	crow, err := s.pool.Query(ctx, `SELECT revision, kind, `+relColumns+` FROM transaction_changes
		WHERE tenant = $1 AND revision = ANY($2::BIGINT[]) ORDER BY revision, seq`, tenant, revs)
	if err != nil {
		return nil, err
	}
	defer crow.Close()
	for crow.Next() {
		var (
			rev  int64
			kind int16
			c    datastore.Change
			row  relRow
		)
		if err := crow.Scan(append([]any{&rev, &kind}, row.dests()...)...); err != nil {
			return nil, err
		}
		rel, err := row.decode()
		if err != nil {
			return nil, err
		}
		c.Relationship = rel
		c.Kind = datastore.ChangeKind(kind)
		if t := index[datastore.Revision(rev)]; t != nil {
			t.Changes = append(t.Changes, c)
		}
	}
	return out, crow.Err()
}

// ReadTransactions implements datastore.Datastore. The filter is turned into SQL that
// the log's indexes answer; pages of matching revisions are read newest first.
func (s *Store) ReadTransactions(ctx context.Context, tenant string, f datastore.TransactionFilter) iter.Seq2[*datastore.Transaction, error] {
	return func(yield func(*datastore.Transaction, error) bool) {
		before := f.Before
		sent := 0
		first := true
		// Pages start small and grow: a caller that wants the newest few records
		// does not pay for loading the changes of many.
		size := 4
		for {
			n := size
			size = min(size*2, watchBatch)
			if f.Limit > 0 {
				n = min(n, f.Limit-sent)
			}
			page, err := s.auditPage(ctx, tenant, f, before, n)
			if err != nil {
				yield(nil, err)
				return
			}
			if first && len(page) == 0 {
				if err := s.checkTenant(ctx, tenant); err != nil {
					yield(nil, err)
				}
				return
			}
			first = false
			for _, t := range page {
				if !f.Matches(t) {
					continue
				}
				if !yield(t, nil) {
					return
				}
				sent++
			}
			if len(page) < n || (f.Limit > 0 && sent >= f.Limit) {
				return
			}
			before = page[len(page)-1].Revision
		}
	}
}

// auditPage reads up to n transactions older than before that match f.
func (s *Store) auditPage(ctx context.Context, tenant string, f datastore.TransactionFilter, before datastore.Revision, n int) ([]*datastore.Transaction, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	b := sqlBuilder{}
	b.arg(tenant) // $1, used by loadTransactions
	if before != 0 {
		b.cond("revision < %s", int64(before))
	}
	if !f.Since.IsZero() {
		b.cond("committed_at >= %s", f.Since)
	}
	if !f.Until.IsZero() {
		b.cond("committed_at < %s", f.Until)
	}
	if f.Principal != "" {
		b.cond("principal = %s", f.Principal)
	}
	if a := f.Actor; a != nil {
		b.cond("actor_type = %s AND actor_id = %s AND actor_relation = %s", a.Type, a.ID, a.Relation)
	}
	// touched restricts to transactions that touched o in one of the roles.
	touched := func(o tuple.ObjectRef, roles string) string {
		c := fmt.Sprintf("revision IN (SELECT revision FROM transaction_objects WHERE tenant = $1 AND role IN (%s) AND object_type = %s", roles, b.arg(o.Type))
		if o.ID != "" {
			c += fmt.Sprintf(" AND object_id = %s", b.arg(o.ID))
		}
		return c + ")"
	}
	if f.Resource != nil {
		b.where = append(b.where, touched(*f.Resource, fmt.Sprint(roleResource)))
	}
	if f.Subject != nil {
		b.where = append(b.where, touched(*f.Subject, fmt.Sprint(roleSubject)))
	}
	if f.Organization != nil {
		b.where = append(b.where, touched(*f.Organization, fmt.Sprint(roleResource, ", ", roleOrganization)))
	}
	cond := "TRUE"
	if len(b.where) > 0 {
		cond = strings.Join(b.where, " AND ")
	}
	cond += fmt.Sprintf(" ORDER BY revision DESC LIMIT %d", n)
	var page []*datastore.Transaction
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		page, err = s.loadTransactions(ctx, tenant, cond, b.args[1:]...)
		return err
	})
	if err != nil {
		return nil, classifyErr(err)
	}
	return page, nil
}

func decodeDenial(b []byte) (*datastore.Denial, error) {
	var dj deniedJSON
	if err := json.Unmarshal(b, &dj); err != nil {
		return nil, err
	}
	d := &datastore.Denial{Message: dj.Message}
	for _, u := range dj.Updates {
		rel, err := tuple.Parse(u.Relationship)
		if err != nil {
			return nil, err
		}
		d.Updates = append(d.Updates, datastore.Update{Op: datastore.Operation(u.Op), Relationship: rel})
	}
	return d, nil
}

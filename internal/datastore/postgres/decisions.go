package postgres

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

var _ datastore.DecisionStore = (*Store)(nil)

var decisionColumns = []string{"tenant", "decided_at", "principal", "operation", "resource_type", "resource_id",
	"permission", "subject_type", "subject_id", "subject_relation", "result", "results", "revision", "path"}

// WriteDecisions implements datastore.DecisionStore with one multi-row INSERT per
// batch (of at most decisionInsertRows rows; larger batches take several), which
// PostgreSQL and CockroachDB both accept; the table's sequence numbers the rows.
func (s *Store) WriteDecisions(ctx context.Context, ds []datastore.Decision) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	for len(ds) > 0 {
		n := min(len(ds), decisionInsertRows)
		if err := s.insertDecisions(ctx, ds[:n]); err != nil {
			return err
		}
		ds = ds[n:]
	}
	return nil
}

// decisionInsertRows keeps one INSERT's parameters (14 a row) well under the
// protocol's 65535.
const decisionInsertRows = 1000

func (s *Store) insertDecisions(ctx context.Context, ds []datastore.Decision) error {
	var b strings.Builder
	b.WriteString("INSERT INTO decisions (" + strings.Join(decisionColumns, ", ") + ") VALUES ")
	args := make([]any, 0, len(ds)*len(decisionColumns))
	for i, d := range ds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j := range decisionColumns {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", len(args)+j+1)
		}
		b.WriteString(")")
		args = append(args, d.Tenant, d.Time, d.Principal, d.Operation, d.Resource.Type, d.Resource.ID, d.Permission,
			d.Subject.Type, d.Subject.ID, d.Subject.Relation, d.Result, int32(d.Results), int64(d.Revision), d.Path)
	}
	_, err := s.pool.Exec(ctx, b.String(), args...)
	return classifyErr(err)
}

// ReadDecisions implements datastore.DecisionStore: one query, ordered as the
// interface says, with the page cursor as a row comparison.
func (s *Store) ReadDecisions(ctx context.Context, f datastore.DecisionFilter) iter.Seq2[datastore.Decision, error] {
	return func(yield func(datastore.Decision, error) bool) {
		if err := s.enter(); err != nil {
			yield(datastore.Decision{}, err)
			return
		}
		defer s.leave()
		q, args := decisionQuery(f)
		rows, err := s.pool.Query(ctx, q, args...)
		if err != nil {
			yield(datastore.Decision{}, classifyErr(err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var d datastore.Decision
			var seq, rev int64
			var results int32
			if err := rows.Scan(&d.Tenant, &d.Time, &seq, &d.Principal, &d.Operation, &d.Resource.Type, &d.Resource.ID, &d.Permission,
				&d.Subject.Type, &d.Subject.ID, &d.Subject.Relation, &d.Result, &results, &rev, &d.Path); err != nil {
				yield(datastore.Decision{}, classifyErr(err))
				return
			}
			d.Time = d.Time.UTC()
			d.Seq, d.Revision, d.Results = uint64(seq), datastore.Revision(rev), int(results)
			if !yield(d, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(datastore.Decision{}, classifyErr(err))
		}
	}
}

func decisionQuery(f datastore.DecisionFilter) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where = append(where, "tenant = ANY("+arg(f.Tenants)+")")
	object := func(col string, o *tuple.ObjectRef) {
		if o == nil {
			return
		}
		where = append(where, col+"_type = "+arg(o.Type))
		if o.ID != "" {
			where = append(where, col+"_id = "+arg(o.ID))
		}
	}
	object("subject", f.Subject)
	object("resource", f.Resource)
	if f.Permission != "" {
		where = append(where, "permission = "+arg(f.Permission))
	}
	if f.Result != "" {
		where = append(where, "result = "+arg(f.Result))
	}
	if !f.Since.IsZero() {
		where = append(where, "decided_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "decided_at < "+arg(f.Until))
	}
	if c := f.Before; c != nil {
		t, n, q := arg(c.Time), arg(c.Tenant), arg(int64(c.Seq))
		where = append(where, fmt.Sprintf("(decided_at < %[1]s OR (decided_at = %[1]s AND (tenant > %[2]s OR (tenant = %[2]s AND seq < %[3]s))))", t, n, q))
	}
	q := "SELECT tenant, decided_at, seq, principal, operation, resource_type, resource_id, permission, subject_type, subject_id, subject_relation, result, results, revision, path FROM decisions WHERE " +
		strings.Join(where, " AND ") + " ORDER BY decided_at DESC, tenant ASC, seq DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q, args
}

// DeleteDecisionsBefore implements datastore.DecisionStore.
func (s *Store) DeleteDecisionsBefore(ctx context.Context, t time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	tag, err := s.pool.Exec(ctx, `DELETE FROM decisions WHERE decided_at < $1`, t)
	if err != nil {
		return 0, classifyErr(err)
	}
	return int(tag.RowsAffected()), nil
}

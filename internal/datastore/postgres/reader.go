package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// pageSize is how many rows one query fetches. Rows are read whole before they are
// yielded, so the caller may run nested queries while iterating without holding a
// pool connection.
const pageSize = 500

// querier is what readers run statements on: the pool, or a write transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// reader reads one tenant at one revision.
type reader struct {
	s      *Store
	q      querier
	tenant string
	rev    datastore.Revision
	// inTx marks the snapshot of a write transaction: its tenant is known to exist
	// (the transaction holds its counter row), so empty results need no check.
	inTx bool
}

func (r *reader) Revision() datastore.Revision { return r.rev }

// run runs one query. Queries on the pool are retried like any statement; a query on a
// write transaction's own connection is not, since a failed statement aborts that
// transaction: its error goes up so the whole transaction is retried.
func (r *reader) run(ctx context.Context, fn func(ctx context.Context) error) error {
	if r.q != querier(r.s.pool) {
		return fn(ctx)
	}
	return r.s.retry(ctx, fn)
}

// ReadSchema implements datastore.Reader.
func (r *reader) ReadSchema(ctx context.Context) (datastore.StoredSchema, error) {
	if err := r.s.enter(); err != nil {
		return datastore.StoredSchema{}, err
	}
	defer r.s.leave()
	var out datastore.StoredSchema
	found := false
	err := r.run(ctx, func(ctx context.Context) error {
		var rev int64
		err := r.q.QueryRow(ctx, `SELECT revision, schema_text FROM schemas WHERE tenant = $1 AND revision <= $2 ORDER BY revision DESC LIMIT 1`,
			r.tenant, int64(r.rev)).Scan(&rev, &out.Text)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found, out.Revision = err == nil, datastore.Revision(rev)
		return err
	})
	if err != nil {
		return datastore.StoredSchema{}, classifyErr(err)
	}
	if !found {
		if err := r.checkTenant(ctx); err != nil {
			return datastore.StoredSchema{}, err
		}
		return datastore.StoredSchema{}, fmt.Errorf("tenant %q at revision %d: %w", r.tenant, r.rev, datastore.ErrSchemaNotFound)
	}
	return out, nil
}

// checkTenant returns TenantNotFound when the reader's tenant does not exist.
func (r *reader) checkTenant(ctx context.Context) error {
	if r.inTx {
		return nil
	}
	return r.s.checkTenant(ctx, r.tenant)
}

// tenantSeenFor is how long a tenant found to exist is trusted without asking again.
// Reads that find nothing check that their tenant exists, to tell an empty tenant from
// a missing one; remembering the answer briefly spares most of them a round trip.
// Deleting a tenant forgets it at once in this process; another process may, for this
// long, see an empty answer where it would see "tenant not found".
const tenantSeenFor = time.Second

// checkTenant returns TenantNotFound when tenant does not exist.
func (s *Store) checkTenant(ctx context.Context, tenant string) error {
	if at, ok := s.tenantSeen.Load(tenant); ok && time.Since(at.(time.Time)) < tenantSeenFor {
		return nil
	}
	var exists bool
	err := s.retry(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE name = $1)`, tenant).Scan(&exists)
	})
	if err != nil {
		return classifyErr(err)
	}
	if !exists {
		return datastore.TenantNotFound(tenant)
	}
	s.tenantSeen.Store(tenant, time.Now())
	return nil
}

// sqlBuilder collects a WHERE clause and its arguments.
type sqlBuilder struct {
	where []string
	args  []any
}

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *sqlBuilder) cond(format string, vals ...any) {
	ps := make([]any, len(vals))
	for i, v := range vals {
		ps[i] = b.arg(v)
	}
	b.where = append(b.where, fmt.Sprintf(format, ps...))
}

// inCond adds column = value, or column = ANY(values) for several.
func (b *sqlBuilder) inCond(column string, vals []string) {
	if len(vals) == 1 {
		b.cond(column+" = %s", vals[0])
		return
	}
	b.cond(column+" = ANY(%s::TEXT[])", vals)
}

// visibleAt restricts relationships to those visible at rev and unexpired at now.
func (b *sqlBuilder) visibleAt(tenant string, rev datastore.Revision, now time.Time) {
	b.cond("tenant = %s", tenant)
	r := b.arg(int64(rev))
	b.where = append(b.where, fmt.Sprintf("created_rev <= %s AND (deleted_rev IS NULL OR deleted_rev > %s)", r, r))
	b.cond("(expires_at IS NULL OR expires_at > %s)", now)
}

// forwardFilter adds the conditions of a relationship filter.
func (b *sqlBuilder) forwardFilter(f datastore.RelationshipFilter) {
	if f.ResourceType != "" {
		b.cond("resource_type = %s", f.ResourceType)
	}
	if len(f.ResourceIDs) > 0 {
		b.inCond("resource_id", f.ResourceIDs)
	}
	if f.ResourceIDPrefix != "" {
		// A range, not LIKE, so '_' in ids needs no escaping and the index serves
		// it. U+10FFFF sorts after every character an id may contain.
		b.cond("resource_id >= %s AND resource_id < %s", f.ResourceIDPrefix, f.ResourceIDPrefix+"\U0010FFFF")
	}
	if f.Relation != "" {
		b.cond("relation = %s", f.Relation)
	}
	if f.Subject != nil {
		b.subjectFilter(*f.Subject)
	}
}

func (b *sqlBuilder) subjectFilter(sf datastore.SubjectFilter) {
	b.cond("subject_type = %s", sf.Type)
	if len(sf.IDs) > 0 {
		b.inCond("subject_id", sf.IDs)
	}
	if len(sf.Relations) > 0 {
		b.inCond("subject_relation", sf.Relations)
	}
}

const (
	forwardOrder = "resource_type, resource_id, relation, subject_type, subject_id, subject_relation"
	reverseOrder = "subject_type, subject_id, subject_relation, resource_type, resource_id, relation"
)

// after adds the keyset cursor: rows strictly after k in the given column order.
func (b *sqlBuilder) after(order string, k tuple.Key) {
	var vals []any
	if order == forwardOrder {
		vals = []any{k.ResourceType, k.ResourceID, k.Relation, k.SubjectType, k.SubjectID, k.SubjectRel}
	} else {
		vals = []any{k.SubjectType, k.SubjectID, k.SubjectRel, k.ResourceType, k.ResourceID, k.Relation}
	}
	ps := make([]string, len(vals))
	for i, v := range vals {
		ps[i] = b.arg(v)
	}
	b.where = append(b.where, "("+order+") > ("+strings.Join(ps, ", ")+")")
}

// QueryRelationships implements datastore.Reader.
func (r *reader) QueryRelationships(ctx context.Context, f datastore.RelationshipFilter, opts datastore.QueryOptions) iter.Seq2[tuple.Relationship, error] {
	return r.scan(ctx, forwardOrder, func(b *sqlBuilder) { b.forwardFilter(f) }, f.Matches, opts.Limit, opts.After)
}

// ReverseQueryRelationships implements datastore.Reader.
func (r *reader) ReverseQueryRelationships(ctx context.Context, sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	build := func(b *sqlBuilder) {
		b.subjectFilter(sf)
		if opts.ResourceType != "" {
			b.cond("resource_type = %s", opts.ResourceType)
		}
		if opts.Relation != "" {
			b.cond("relation = %s", opts.Relation)
		}
	}
	match := func(rel tuple.Relationship) bool {
		return sf.Matches(rel.Subject) &&
			(opts.ResourceType == "" || rel.Resource.Type == opts.ResourceType) &&
			(opts.Relation == "" || rel.Relation == opts.Relation)
	}
	return r.scan(ctx, reverseOrder, build, match, opts.Limit, opts.After)
}

// scan pages through the matching relationships in the given order, one query per
// page, and yields them with no connection held.
func (r *reader) scan(ctx context.Context, order string, build func(*sqlBuilder), match func(tuple.Relationship) bool, limit int, after *tuple.Key) iter.Seq2[tuple.Relationship, error] {
	return func(yield func(tuple.Relationship, error) bool) {
		now := r.s.opts.Now()
		cursor := after
		sent := 0
		for {
			n := pageSize
			if limit > 0 {
				n = min(n, limit-sent)
			}
			page, err := r.page(ctx, order, build, cursor, now, n)
			if err != nil {
				yield(tuple.Relationship{}, err)
				return
			}
			if sent == 0 && len(page) == 0 {
				if err := r.checkTenant(ctx); err != nil {
					yield(tuple.Relationship{}, err)
				}
				return
			}
			for _, rel := range page {
				// The SQL is exact; the check guards against a filter the SQL
				// could express differently (such as the id prefix bound).
				if !match(rel) {
					continue
				}
				if !yield(rel, nil) {
					return
				}
				sent++
			}
			if len(page) < n || (limit > 0 && sent >= limit) {
				return
			}
			k := page[len(page)-1].Key()
			cursor = &k
		}
	}
}

// page runs one query of a scan.
func (r *reader) page(ctx context.Context, order string, build func(*sqlBuilder), cursor *tuple.Key, now time.Time, n int) ([]tuple.Relationship, error) {
	if err := r.s.enter(); err != nil {
		return nil, err
	}
	defer r.s.leave()
	var b sqlBuilder
	b.visibleAt(r.tenant, r.rev, now)
	build(&b)
	if cursor != nil {
		b.after(order, *cursor)
	}
	sql := "SELECT " + relColumns + " FROM relationships WHERE " + strings.Join(b.where, " AND ") +
		" ORDER BY " + order + " LIMIT " + strconv.Itoa(n)
	var out []tuple.Relationship
	err := r.run(ctx, func(ctx context.Context) error {
		out = out[:0]
		rows, err := r.q.Query(ctx, sql, b.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			rel, err := scanRelationship(rows)
			if err != nil {
				return err
			}
			out = append(out, rel)
		}
		return rows.Err()
	})
	return out, classifyErr(err)
}

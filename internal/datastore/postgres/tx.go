package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// ReadWriteTx implements datastore.Datastore.
//
// Each attempt is one database transaction that first locks the tenant's counter row
// (SELECT ... FOR UPDATE), runs fn against the committed state, and at the end writes
// everything fn asked for in a few batched statements, bumps the counter and commits.
// A serialization failure anywhere re-runs the whole attempt, fn included.
func (s *Store) ReadWriteTx(ctx context.Context, tenant string, meta datastore.TxMetadata, fn func(context.Context, datastore.ReadWriteTx) error) (datastore.Revision, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	select {
	case s.writeSlots <- struct{}{}:
		defer func() { <-s.writeSlots }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	var rev datastore.Revision
	err := s.retry(ctx, func(ctx context.Context) error {
		r, err := s.attempt(ctx, tenant, meta, fn)
		rev = r
		return err
	})
	if err != nil {
		return 0, classifyErr(err)
	}
	s.wake(tenant)
	return rev, nil
}

// commitTimeout bounds the wait for COMMIT's answer.
const commitTimeout = 30 * time.Second

// attempt runs one try of a write transaction.
func (s *Store) attempt(ctx context.Context, tenant string, meta datastore.TxMetadata, fn func(context.Context, datastore.ReadWriteTx) error) (datastore.Revision, error) {
	dbtx, err := s.pool.BeginTx(ctx, s.txOptions)
	if err != nil {
		return 0, err
	}
	committed := false
	defer func() {
		if !committed {
			// A rollback on a broken connection fails; the server rolls back then.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = dbtx.Rollback(rctx)
			cancel()
		}
	}()
	var head, stored int64
	err = dbtx.QueryRow(ctx, `SELECT head, relationship_count FROM tenant_heads WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&head, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, datastore.TenantNotFound(tenant)
	}
	if err != nil {
		return 0, err
	}
	tx := &pgTx{
		s:      s,
		db:     dbtx,
		tenant: tenant,
		rev:    datastore.Revision(head + 1),
		meta:   meta,
		stored: stored,
	}
	tx.writes = datastore.NewWriteSet(tx.liveKeys)
	if err := fn(ctx, tx); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := tx.flush(ctx, s.opts.Now()); err != nil {
		return 0, err
	}
	// Once COMMIT is sent its outcome must be learnt: a caller's cancellation would
	// cut the connection and leave the write's fate unknown, so it is not passed on.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	err = dbtx.Commit(cctx)
	cancel()
	committed = true // committed or rolled back: there is nothing left to roll back
	if err != nil {
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "40003":
			// statement_completion_unknown: CockroachDB could not learn whether
			// the commit applied (a node failed during it).
			return 0, ambiguousCommit(err)
		case errors.As(err, &pgErr), errors.Is(err, pgx.ErrTxCommitRollback):
			return 0, err // the server refused the commit or rolled back: nothing was written
		}
		return 0, ambiguousCommit(err)
	}
	return tx.rev, nil
}

// pgTx buffers a transaction's writes in a write set and applies them at commit, so
// that while fn runs the transaction holds no lock but the counter row and its
// snapshot is the database as committed.
type pgTx struct {
	s      *Store
	db     pgx.Tx
	tenant string
	rev    datastore.Revision
	meta   datastore.TxMetadata
	writes *datastore.WriteSet
	schema *string
	// stored is the tenant's relationship count at the snapshot, read with the locked
	// counter row; limit is LimitRelationships (0: none).
	stored, limit int64
	records       datastore.RecordWrites
}

func (tx *pgTx) Revision() datastore.Revision { return tx.rev }

// Snapshot implements datastore.ReadWriteTx. It reads through the pool at Revision()-1;
// nothing else of the tenant can commit while this transaction holds the counter row.
func (tx *pgTx) Snapshot() datastore.Reader {
	return &reader{s: tx.s, q: tx.s.pool, tenant: tx.tenant, rev: tx.rev - 1, inTx: true}
}

func (tx *pgTx) SetMetadata(meta datastore.TxMetadata) { tx.meta = meta }

func (tx *pgTx) LimitRelationships(max int64) { tx.limit = max }

func (tx *pgTx) WriteSchema(_ context.Context, text string) error {
	tx.schema = &text
	return nil
}

// WriteRelationships implements datastore.ReadWriteTx.
func (tx *pgTx) WriteRelationships(ctx context.Context, updates []datastore.Update) error {
	return tx.writes.Write(ctx, updates)
}

// DeleteRelationships implements datastore.ReadWriteTx. It reads the snapshot inside
// the database transaction, which sees the same committed state as Snapshot.
func (tx *pgTx) DeleteRelationships(ctx context.Context, f datastore.RelationshipFilter, limit int) ([]tuple.Relationship, bool, error) {
	snap := &reader{s: tx.s, q: tx.db, tenant: tx.tenant, rev: tx.rev - 1, inTx: true}
	return tx.writes.DeleteMatching(ctx, snap, f, limit)
}

// keyArrays is a list of keys as six parallel arrays, for unnest().
type keyArrays struct {
	rt, ri, rel, st, si, sr []string
}

func (a *keyArrays) add(k tuple.Key) {
	a.rt = append(a.rt, k.ResourceType)
	a.ri = append(a.ri, k.ResourceID)
	a.rel = append(a.rel, k.Relation)
	a.st = append(a.st, k.SubjectType)
	a.si = append(a.si, k.SubjectID)
	a.sr = append(a.sr, k.SubjectRel)
}

func (a *keyArrays) args() []any { return []any{a.rt, a.ri, a.rel, a.st, a.si, a.sr} }

// Looking keys up: keysUnnest turns six key arrays into rows k, and
// liveVersion, run LATERAL once per k, finds that key's live version by its primary
// key. The LATERAL form (OFFSET 0 keeps PostgreSQL from flattening it) makes every
// plan a loop of index lookups driven by the keys: PostgreSQL cannot pick a plan that
// scans the table once per key, which it does for "key IN (SELECT unnest(...))" while
// the table has no statistics yet (a fresh import).
var (
	liveVersion = `SELECT ` + relColumnsOf("x") + `, x.created_rev
		FROM relationships AS x
		WHERE x.tenant = $1 AND x.resource_type = k.rt AND x.resource_id = k.ri AND x.relation = k.rel
		AND x.subject_type = k.st AND x.subject_id = k.si AND x.subject_relation = k.sr AND x.deleted_rev IS NULL`
)

// keysUnnest is the FROM item k over six key arrays, the parameters $first..$first+5.
func keysUnnest(first int) string {
	ps := make([]string, 6)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(first+i) + "::TEXT[]"
	}
	return "unnest(" + strings.Join(ps, ", ") + ") AS k (rt, ri, rel, st, si, sr)"
}

// liveKeys is the write set's lookup: one query finds which of keys have a live,
// unexpired relationship at the snapshot.
func (tx *pgTx) liveKeys(ctx context.Context, keys []tuple.Key, live []bool) error {
	var a keyArrays
	for _, k := range keys {
		a.add(k)
	}
	rows, err := tx.db.Query(ctx, `SELECT l.resource_type, l.resource_id, l.relation, l.subject_type, l.subject_id, l.subject_relation
		FROM `+keysUnnest(3)+`, LATERAL (`+liveVersion+` AND (x.expires_at IS NULL OR x.expires_at > $2) OFFSET 0) AS l`,
		append([]any{tx.tenant, tx.s.opts.Now()}, a.args()...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := map[tuple.Key]bool{}
	for rows.Next() {
		var k tuple.Key
		if err := rows.Scan(&k.ResourceType, &k.ResourceID, &k.Relation, &k.SubjectType, &k.SubjectID, &k.SubjectRel); err != nil {
			return err
		}
		stored[k] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, k := range keys {
		live[i] = stored[k]
	}
	return nil
}

// flush writes the buffered transaction: it finds the live versions of the keys the
// transaction wrote, ends them (deleted_rev), inserts the new versions, records the
// transaction and its changes, and moves the tenant's head to the transaction's
// revision and its relationship count by what the transaction added and ended.
func (tx *pgTx) flush(ctx context.Context, now time.Time) error {
	rev := int64(tx.rev)
	var changes []datastore.Change
	var added int64
	batch := &pgx.Batch{}
	if n := tx.writes.Len(); n > 0 && tx.s.bulkWrites > 0 && n >= tx.s.bulkWrites {
		// The bulk path logs the changes itself; queueLog adds the rest.
		d, err := tx.flushBulk(ctx, rev, now)
		if err != nil {
			return err
		}
		added = d
		if err := datastore.CheckRelationshipLimit(tx.tenant, tx.limit, tx.stored, tx.stored+added); err != nil {
			return err // the transaction rolls back, the merge with it
		}
	} else if pending := tx.writes.Pending(); len(pending) > 0 {
		prev, err := tx.liveVersions(ctx, pending)
		if err != nil {
			return err
		}
		added = -int64(len(prev))
		var ins relArrays
		for i := range pending {
			p := &pending[i]
			key := p.Relationship.Key()
			live, had := prev[key]
			old := live.rel
			if had {
				// End the live version at this revision: one primary-key update
				// each, pipelined in the batch.
				batch.Queue(`UPDATE relationships SET deleted_rev = $2 WHERE tenant = $1 AND resource_type = $3 AND resource_id = $4
					AND relation = $5 AND subject_type = $6 AND subject_id = $7 AND subject_relation = $8 AND created_rev = $9`,
					tx.tenant, rev, key.ResourceType, key.ResourceID, key.Relation, key.SubjectType, key.SubjectID, key.SubjectRel, live.createdRev)
				if old.ExpiredAt(now) {
					had = false // it was already absent to every reader
				}
			}
			switch {
			case !p.Deleted:
				ins.add(p.Relationship)
				kind := datastore.ChangeCreated
				if had {
					kind = datastore.ChangeTouched
				}
				changes = append(changes, datastore.Change{Kind: kind, Relationship: p.Relationship})
			case had:
				changes = append(changes, datastore.Change{Kind: datastore.ChangeDeleted, Relationship: old})
			}
		}
		added += int64(len(ins.keys.rt))
		if err := datastore.CheckRelationshipLimit(tx.tenant, tx.limit, tx.stored, tx.stored+added); err != nil {
			return err
		}
		if len(ins.keys.rt) > 0 {
			batch.Queue(`INSERT INTO relationships (tenant, created_rev, `+relColumns+`) `+relUnnest("$1, $2", 3),
				append([]any{tx.tenant, rev}, ins.args()...)...)
		}
	}
	recordChanges, err := tx.applyRecords(ctx, batch, rev)
	if err != nil {
		return err
	}
	if err := queueLog(batch, tx.tenant, rev, now, tx.meta, tx.schema, changes, recordChanges); err != nil {
		return err
	}
	if tx.schema != nil {
		batch.Queue(`INSERT INTO schemas (tenant, revision, schema_text) VALUES ($1, $2, $3)`, tx.tenant, rev, *tx.schema)
	}
	batch.Queue(`UPDATE tenant_heads SET head = $2, relationship_count = relationship_count + $3 WHERE tenant = $1`, tx.tenant, rev, added)
	return tx.db.SendBatch(ctx, batch).Close()
}

// liveVersions returns the live version of every key the transaction wrote, with the
// revision that created it.
func (tx *pgTx) liveVersions(ctx context.Context, pending []datastore.PendingWrite) (map[tuple.Key]liveVersionRow, error) {
	var a keyArrays
	for i := range pending {
		a.add(pending[i].Relationship.Key())
	}
	rows, err := tx.db.Query(ctx, `SELECT `+relColumnsOf("l")+`, l.created_rev
		FROM `+keysUnnest(2)+`, LATERAL (`+liveVersion+` OFFSET 0) AS l`,
		append([]any{tx.tenant}, a.args()...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	prev := map[tuple.Key]liveVersionRow{}
	for rows.Next() {
		var (
			v   liveVersionRow
			row relRow
		)
		if err := rows.Scan(append(row.dests(), &v.createdRev)...); err != nil {
			return nil, err
		}
		rel, err := row.decode()
		if err != nil {
			return nil, err
		}
		v.rel = rel
		prev[rel.Key()] = v
	}
	return prev, rows.Err()
}

// liveVersionRow is a stored live version and the revision that created it.
type liveVersionRow struct {
	rel        tuple.Relationship
	createdRev int64
}

// grantJSON is the stored form of a datastore.GrantRecord.
type grantJSON struct {
	Relationship string           `json:"relationship"`
	Key          tuple.Key        `json:"key"`
	Rule         string           `json:"rule"`
	Via          *tuple.ObjectRef `json:"via,omitempty"`
}

// deniedJSON is the stored form of a datastore.Denial; updates keep the relationship
// text form, caveat and expiry included.
type deniedJSON struct {
	Message string       `json:"message"`
	Updates []updateJSON `json:"updates,omitempty"`
}

type updateJSON struct {
	Op           int    `json:"op"`
	Relationship string `json:"relationship"`
}

// queueLog queues the statements recording a transaction in the log.
func queueLog(batch *pgx.Batch, tenant string, rev int64, now time.Time, meta datastore.TxMetadata, schema *string, changes []datastore.Change, recordChanges []datastore.RecordChange) error {
	var actorType, actorID, actorRel *string
	if a := meta.Actor; a != nil {
		actorType, actorID, actorRel = &a.Type, &a.ID, &a.Relation
	}
	var orgs, grants []byte
	if len(meta.Organizations) > 0 {
		b, err := json.Marshal(meta.Organizations)
		if err != nil {
			return err
		}
		orgs = b
	}
	if len(meta.Grants) > 0 {
		gs := make([]grantJSON, len(meta.Grants))
		for i, g := range meta.Grants {
			gs[i] = grantJSON{Relationship: g.Relationship.String(), Key: g.Relationship, Rule: g.Rule, Via: g.Via}
		}
		b, err := json.Marshal(gs)
		if err != nil {
			return err
		}
		grants = b
	}
	var denied []byte
	if d := meta.Denied; d != nil {
		dj := deniedJSON{Message: d.Message}
		for _, u := range d.Updates {
			dj.Updates = append(dj.Updates, updateJSON{Op: int(u.Op), Relationship: tuple.Format(u.Relationship)})
		}
		b, err := json.Marshal(dj)
		if err != nil {
			return err
		}
		denied = b
	}
	rc, err := encodeRecordChanges(recordChanges)
	if err != nil {
		return err
	}
	batch.Queue(`INSERT INTO transactions (tenant, revision, committed_at, principal, actor_type, actor_id, actor_relation, reason, operation, organizations, grants, schema_text, denied, record_changes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::TEXT::JSONB, $11::TEXT::JSONB, $12, $13::TEXT::JSONB, $14::TEXT::JSONB)`,
		tenant, rev, now, meta.Principal, actorType, actorID, actorRel, meta.Reason, meta.Operation,
		jsonText(orgs), jsonText(grants), schema, jsonText(denied), jsonText(rc))
	if len(changes) > 0 {
		var (
			a     relArrays
			seq   []int32
			kinds []int16
		)
		for i, c := range changes {
			a.add(c.Relationship)
			seq = append(seq, int32(i))
			kinds = append(kinds, int16(c.Kind))
		}
		batch.Queue(`INSERT INTO transaction_changes (tenant, revision, seq, kind, `+relColumns+`) `+
			relUnnest("$1, $2", 3, [2]string{"seq", "INT[]"}, [2]string{"kind", "SMALLINT[]"}),
			append([]any{tenant, rev, seq, kinds}, a.args()...)...)
	}
	// The objects the transaction touched, once each per role, for audit queries.
	type object struct {
		role int16
		ref  tuple.ObjectRef
	}
	seen := map[object]bool{}
	var (
		roles      []int16
		types, ids []string
	)
	add := func(role int16, ref tuple.ObjectRef) {
		o := object{role, ref}
		if !seen[o] {
			seen[o] = true
			roles, types, ids = append(roles, role), append(types, ref.Type), append(ids, ref.ID)
		}
	}
	for _, c := range changes {
		add(roleResource, c.Relationship.Resource)
		add(roleSubject, c.Relationship.Subject.Object())
	}
	if d := meta.Denied; d != nil {
		// A refused attempt is found by the objects it tried to change.
		for _, u := range d.Updates {
			add(roleResource, u.Relationship.Resource)
			add(roleSubject, u.Relationship.Subject.Object())
		}
	}
	for _, o := range meta.Organizations {
		add(roleOrganization, o)
	}
	if len(roles) > 0 {
		// ON CONFLICT: the bulk path has recorded the objects of its changes already.
		batch.Queue(`INSERT INTO transaction_objects (tenant, role, object_type, object_id, revision)
			SELECT $1, u.r, u.t, u.i, $2 FROM unnest($3::SMALLINT[], $4::TEXT[], $5::TEXT[]) AS u (r, t, i)
			ON CONFLICT DO NOTHING`, tenant, rev, roles, types, ids)
	}
	return nil
}

// Roles of a row of transaction_objects.
const (
	roleResource     = 1 // the resource of a change
	roleSubject      = 2 // the subject (its object) of a change
	roleOrganization = 3 // an organisation named in the metadata
)

func jsonText(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

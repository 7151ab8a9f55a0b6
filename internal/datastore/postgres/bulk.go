package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// DefaultBulkWrites is the number of relationships from which a transaction is applied
// by the bulk path on PostgreSQL (see Options.BulkWrites).
const DefaultBulkWrites = 500

// stageTable is the session's staging table for bulk writes. It is temporary (never
// logged, invisible to other sessions) and empties itself at the end of every
// transaction, so each bulk transaction finds it empty and leaves nothing behind,
// rolled back or committed.
const stageTable = "pemba_write_stage"

// stageColumns are the staging table's columns in COPY order: the write's position
// in the transaction, whether it deletes, then the relColumns.
var stageColumns = append([]string{"seq", "deleted"}, relColumnNames...)

var createStage = `CREATE TEMP TABLE IF NOT EXISTS ` + stageTable + ` (
	seq INT NOT NULL, deleted BOOLEAN NOT NULL,
	resource_type TEXT COLLATE "C" NOT NULL, resource_id TEXT COLLATE "C" NOT NULL, relation TEXT COLLATE "C" NOT NULL,
	subject_type TEXT COLLATE "C" NOT NULL, subject_id TEXT COLLATE "C" NOT NULL, subject_relation TEXT COLLATE "C" NOT NULL,
	caveat_name TEXT, caveat_context TEXT, expires_at TIMESTAMPTZ,
	granted_by_type TEXT, granted_by_id TEXT, granted_by_relation TEXT, granted_via_type TEXT, granted_via_id TEXT
) ON COMMIT DELETE ROWS`

// mergeStage applies the staged writes in one statement; $1 is the tenant, $2 the
// transaction's revision and $3 the time expiry is judged at. All its parts read the
// same snapshot, the one before the statement:
//
//   - prev pairs each staged write with the key's live version, found by a primary-key
//     lookup per write (the LATERAL ... OFFSET 0 form, as liveVersion explains), and
//     notes whether that version is present (not expired);
//   - ended closes those live versions at $2, by their row addresses (a TID scan, so
//     no plan can scan the table);
//   - inserted stores the new versions of the written keys;
//   - logged records the changes in write order: created or touched for a write,
//     deleted (with the stored version) for a deletion of a present key;
//   - objects records each resource and subject object of the changes once.
//
// It answers how many live versions it ended and how many versions it inserted.
var mergeStage = func() string {
	var stageCols, prevCols, liveCols, oldCols, change, key []string
	for i, c := range relColumnNames {
		n := "s." + c
		if c == "caveat_context" {
			n += "::JSONB AS " + c
		}
		stageCols = append(stageCols, n)
		prevCols = append(prevCols, "p."+c)
		liveCols = append(liveCols, "x."+c)
		oldCols = append(oldCols, "l."+c+" AS old_"+c)
		change = append(change, "CASE WHEN p.deleted THEN p.old_"+c+" ELSE p."+c+" END")
		if i < 6 {
			key = append(key, "x."+c+" = s."+c)
		}
	}
	kind := func(k datastore.ChangeKind) string { return fmt.Sprint(int(k)) }
	return `WITH prev AS MATERIALIZED (
		SELECT s.seq, s.deleted, ` + strings.Join(stageCols, ", ") + `,
			l.tid, l.tid IS NOT NULL AND (l.expires_at IS NULL OR l.expires_at > $3) AS present, ` + strings.Join(oldCols, ", ") + `
		FROM pg_temp.` + stageTable + ` AS s LEFT JOIN LATERAL (
			SELECT x.ctid AS tid, ` + strings.Join(liveCols, ", ") + ` FROM relationships AS x
			WHERE x.tenant = $1 AND ` + strings.Join(key, " AND ") + ` AND x.deleted_rev IS NULL OFFSET 0) AS l ON TRUE
	), ended AS (
		UPDATE relationships SET deleted_rev = $2 WHERE ctid = ANY(ARRAY(SELECT p.tid FROM prev AS p WHERE p.tid IS NOT NULL))
	), inserted AS (
		INSERT INTO relationships (tenant, created_rev, ` + relColumns + `)
		SELECT $1, $2, ` + strings.Join(prevCols, ", ") + ` FROM prev AS p WHERE NOT p.deleted
	), logged AS (
		INSERT INTO transaction_changes (tenant, revision, seq, kind, ` + relColumns + `)
		SELECT $1, $2, row_number() OVER (ORDER BY p.seq) - 1,
			CASE WHEN p.deleted THEN ` + kind(datastore.ChangeDeleted) + ` WHEN p.present THEN ` + kind(datastore.ChangeTouched) + ` ELSE ` + kind(datastore.ChangeCreated) + ` END,
			` + strings.Join(change, ", ") + `
		FROM prev AS p WHERE NOT p.deleted OR p.present
		RETURNING resource_type, resource_id, subject_type, subject_id
	), objects AS (
		INSERT INTO transaction_objects (tenant, role, object_type, object_id, revision)
		SELECT $1, ` + fmt.Sprint(roleResource) + `, g.resource_type, g.resource_id, $2 FROM logged AS g
		UNION SELECT $1, ` + fmt.Sprint(roleSubject) + `, g.subject_type, g.subject_id, $2 FROM logged AS g
	)
	SELECT count(p.tid), count(*) FILTER (WHERE NOT p.deleted) FROM prev AS p`
}()

// flushBulk applies the transaction's relationship writes through the staging table:
// one COPY of every write, then mergeStage. It does in a few set-based statements what
// flush does with a lookup, a row update per touched key and array inserts, and
// records the same versions, changes and objects. It returns the change in the
// tenant's relationship count.
func (tx *pgTx) flushBulk(ctx context.Context, rev int64, now time.Time) (int64, error) {
	pending := tx.writes.Pending()
	if _, err := tx.db.Exec(ctx, createStage); err != nil {
		return 0, err
	}
	// Staged in by-subject order: the merge probes and extends the by-subject index in
	// the staging table's order, so its pages are visited once each, in order, rather
	// than at random (the primary key's order is usually the input's already).
	order := make([]int32, len(pending))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := &pending[a].Relationship, &pending[b].Relationship
		return cmp.Or(cmp.Compare(x.Subject.Type, y.Subject.Type), cmp.Compare(x.Subject.ID, y.Subject.ID),
			cmp.Compare(x.Subject.Relation, y.Subject.Relation), cmp.Compare(x.Resource.Type, y.Resource.Type),
			cmp.Compare(x.Resource.ID, y.Resource.ID), cmp.Compare(x.Relation, y.Relation))
	})
	var row [16]any
	n := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if n == len(order) {
			return nil, nil
		}
		i := order[n]
		n++
		p := &pending[i]
		k, t := p.Relationship.Key(), traitsOf(p.Relationship)
		row = [16]any{i, p.Deleted, k.ResourceType, k.ResourceID, k.Relation, k.SubjectType, k.SubjectID, k.SubjectRel,
			t.caveat, t.caveatCtx, t.expires, t.grant[0], t.grant[1], t.grant[2], t.grant[3], t.grant[4]}
		return row[:], nil
	})
	if _, err := tx.db.CopyFrom(ctx, pgx.Identifier{"pg_temp", stageTable}, stageColumns, src); err != nil {
		return 0, err
	}
	var ended, inserted int64
	if err := tx.db.QueryRow(ctx, mergeStage, tx.tenant, rev, now).Scan(&ended, &inserted); err != nil {
		return 0, err
	}
	return inserted - ended, nil
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// recordPage is how many records one query of a listing reads.
const recordPage = 256

// recordVisible is the condition that a records row r is the version visible at the
// revision in parameter $3.
const recordVisible = `r.created_rev <= $3 AND (r.deleted_rev IS NULL OR r.deleted_rev > $3)`

// ReadRecord implements datastore.Reader.
func (r *reader) ReadRecord(ctx context.Context, kind, id string) (datastore.Record, error) {
	if err := r.s.enter(); err != nil {
		return datastore.Record{}, err
	}
	defer r.s.leave()
	out := datastore.Record{Kind: kind, ID: id}
	found := false
	err := r.run(ctx, func(ctx context.Context) error {
		var created int64
		err := r.q.QueryRow(ctx, `SELECT r.created_rev, r.data, r.keys FROM records AS r
			WHERE r.tenant = $1 AND r.kind = $2 AND `+recordVisible+` AND r.id = $4`,
			r.tenant, kind, int64(r.rev), id).Scan(&created, &out.Data, &out.Keys)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found, out.Revision = err == nil, datastore.Revision(created)
		return err
	})
	if err != nil {
		return datastore.Record{}, classifyErr(err)
	}
	if !found {
		if err := r.checkTenant(ctx); err != nil {
			return datastore.Record{}, err
		}
		return datastore.Record{}, datastore.ErrRecordNotFound
	}
	return out, nil
}

// likePrefix is a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// ListRecords implements datastore.Reader. Records come in id order, a page per
// query; a key or key prefix is looked up in record_keys, whose rows belong to one
// version each, so only the visible version's keys count.
func (r *reader) ListRecords(ctx context.Context, kind string, q datastore.RecordQuery) iter.Seq2[datastore.Record, error] {
	return func(yield func(datastore.Record, error) bool) {
		if err := datastore.ValidateRecordQuery(kind, q); err != nil {
			yield(datastore.Record{}, err)
			return
		}
		cond, arg := "", ""
		switch {
		case q.Key != "":
			cond, arg = `k.key = $5`, q.Key
		case q.KeyPrefix != "":
			cond, arg = `k.key LIKE $5 ESCAPE '\'`, likePrefix(q.KeyPrefix)
		}
		sql := `SELECT r.id, r.created_rev, r.data, r.keys FROM records AS r
			WHERE r.tenant = $1 AND r.kind = $2 AND ` + recordVisible + ` AND r.id > $4`
		if cond != "" {
			sql += ` AND EXISTS (SELECT 1 FROM record_keys AS k WHERE k.tenant = r.tenant AND k.kind = r.kind
				AND k.id = r.id AND k.created_rev = r.created_rev AND ` + cond + `)`
		}
		sql += ` ORDER BY r.id LIMIT ` + strconv.Itoa(recordPage)
		after, n, checked := q.AfterID, 0, false
		for {
			page, err := r.recordPage(ctx, sql, kind, after, cond != "", arg)
			if err != nil {
				yield(datastore.Record{}, err)
				return
			}
			if len(page) == 0 && !checked {
				checked = true
				if err := r.checkTenant(ctx); err != nil {
					yield(datastore.Record{}, err)
					return
				}
			}
			for _, rec := range page {
				if !yield(rec, nil) {
					return
				}
				if n++; q.Limit > 0 && n >= q.Limit {
					return
				}
			}
			if len(page) < recordPage {
				return
			}
			after = page[len(page)-1].ID
		}
	}
}

// recordPage runs one query of a listing.
func (r *reader) recordPage(ctx context.Context, sql, kind, after string, withKey bool, key string) ([]datastore.Record, error) {
	if err := r.s.enter(); err != nil {
		return nil, err
	}
	defer r.s.leave()
	args := []any{r.tenant, kind, int64(r.rev), after}
	if withKey {
		args = append(args, key)
	}
	var out []datastore.Record
	err := r.run(ctx, func(ctx context.Context) error {
		out = out[:0]
		rows, err := r.q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			rec := datastore.Record{Kind: kind}
			var created int64
			if err := rows.Scan(&rec.ID, &created, &rec.Data, &rec.Keys); err != nil {
				return err
			}
			rec.Revision = datastore.Revision(created)
			out = append(out, rec)
		}
		return rows.Err()
	})
	return out, classifyErr(err)
}

// PutRecord implements datastore.ReadWriteTx.
func (tx *pgTx) PutRecord(_ context.Context, r datastore.Record) error { return tx.records.Put(r) }

// DeleteRecord implements datastore.ReadWriteTx.
func (tx *pgTx) DeleteRecord(_ context.Context, kind, id string) error {
	return tx.records.Delete(kind, id)
}

// applyRecords ends, at rev, the live version of every record the transaction wrote
// (one statement, whose answer says which records existed) and queues the inserts of
// the new versions and their keys. It returns the transaction's record changes.
func (tx *pgTx) applyRecords(ctx context.Context, batch *pgx.Batch, rev int64) ([]datastore.RecordChange, error) {
	pending := tx.records.Pending()
	if len(pending) == 0 {
		return nil, nil
	}
	var kinds, ids []string
	for _, p := range pending {
		kinds, ids = append(kinds, p.Record.Kind), append(ids, p.Record.ID)
	}
	rows, err := tx.db.Query(ctx, `UPDATE records SET deleted_rev = $2 WHERE tenant = $1 AND deleted_rev IS NULL
		AND (kind, id) IN (SELECT u.kind, u.id FROM unnest($3::TEXT[], $4::TEXT[]) AS u (kind, id))
		RETURNING kind, id`, tx.tenant, rev, kinds, ids)
	if err != nil {
		return nil, err
	}
	existed := map[datastore.RecordRef]bool{}
	for rows.Next() {
		var ref datastore.RecordRef
		if err := rows.Scan(&ref.Kind, &ref.ID); err != nil {
			rows.Close()
			return nil, err
		}
		existed[ref] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var changes []datastore.RecordChange
	var newKinds, newIDs, keyLists, kk, ki, kkey []string
	var datas [][]byte
	for _, p := range pending {
		r := p.Record
		if p.Deleted {
			if existed[datastore.RecordRef{Kind: r.Kind, ID: r.ID}] {
				changes = append(changes, datastore.RecordChange{Deleted: true, Record: datastore.Record{Kind: r.Kind, ID: r.ID}})
			}
			continue
		}
		r.Revision = datastore.Revision(rev)
		changes = append(changes, datastore.RecordChange{Record: r})
		newKinds, newIDs = append(newKinds, r.Kind), append(newIDs, r.ID)
		data := r.Data
		if data == nil {
			data = []byte{}
		}
		datas = append(datas, data)
		keyLists = append(keyLists, encodeTextArray(r.Keys))
		seen := map[string]bool{}
		for _, k := range r.Keys {
			if !seen[k] {
				seen[k] = true
				kk, ki, kkey = append(kk, r.Kind), append(ki, r.ID), append(kkey, k)
			}
		}
	}
	if len(newIDs) > 0 {
		batch.Queue(`INSERT INTO records (tenant, kind, id, created_rev, data, keys)
			SELECT $1, u.kind, u.id, $2, u.data, u.keys::TEXT[] FROM unnest($3::TEXT[], $4::TEXT[], $5::BYTEA[], $6::TEXT[]) AS u (kind, id, data, keys)`,
			tx.tenant, rev, newKinds, newIDs, datas, keyLists)
	}
	if len(kkey) > 0 {
		batch.Queue(`INSERT INTO record_keys (tenant, kind, key, id, created_rev)
			SELECT $1, u.kind, u.key, u.id, $2 FROM unnest($3::TEXT[], $4::TEXT[], $5::TEXT[]) AS u (kind, key, id)`,
			tx.tenant, rev, kk, kkey, ki)
	}
	return changes, nil
}

// recordChangeJSON is the stored form of a datastore.RecordChange.
type recordChangeJSON struct {
	Deleted bool     `json:"deleted,omitempty"`
	Kind    string   `json:"kind"`
	ID      string   `json:"id"`
	Keys    []string `json:"keys,omitempty"`
	Data    []byte   `json:"data,omitempty"`
}

func encodeRecordChanges(rcs []datastore.RecordChange) ([]byte, error) {
	if len(rcs) == 0 {
		return nil, nil
	}
	out := make([]recordChangeJSON, len(rcs))
	for i, c := range rcs {
		out[i] = recordChangeJSON{Deleted: c.Deleted, Kind: c.Record.Kind, ID: c.Record.ID, Keys: c.Record.Keys, Data: c.Record.Data}
	}
	return json.Marshal(out)
}

func decodeRecordChanges(rev datastore.Revision, b []byte) ([]datastore.RecordChange, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var in []recordChangeJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("stored record changes of revision %d: %w", rev, err)
	}
	out := make([]datastore.RecordChange, len(in))
	for i, c := range in {
		out[i] = datastore.RecordChange{Deleted: c.Deleted, Record: datastore.Record{Kind: c.Kind, ID: c.ID}}
		if !c.Deleted {
			out[i].Record.Keys, out[i].Record.Data, out[i].Record.Revision = c.Keys, c.Data, rev
		}
	}
	return out, nil
}

// encodeTextArray writes a TEXT[] literal ({"a","b"}), so a list of arrays can pass
// through unnest as one text each.
func encodeTextArray(ss []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// collectRecords deletes the record versions ended at or before the horizon, with
// their key rows, in batches.
func (s *Store) collectRecords(ctx context.Context, tenant string, horizon int64) (int64, error) {
	if _, err := s.deleteBatches(ctx, `DELETE FROM record_keys
		WHERE (tenant, kind, key, id, created_rev) IN (
			SELECT k.tenant, k.kind, k.key, k.id, k.created_rev FROM record_keys AS k JOIN records AS r
			ON r.tenant = k.tenant AND r.kind = k.kind AND r.id = k.id AND r.created_rev = k.created_rev
			WHERE k.tenant = $1 AND r.deleted_rev IS NOT NULL AND r.deleted_rev <= $2
			LIMIT `+strconv.Itoa(gcBatch)+`)`, tenant, horizon); err != nil {
		return 0, err
	}
	return s.deleteBatches(ctx, `DELETE FROM records
		WHERE (tenant, kind, id, created_rev) IN (
			SELECT tenant, kind, id, created_rev FROM records
			WHERE tenant = $1 AND deleted_rev IS NOT NULL AND deleted_rev <= $2
			LIMIT `+strconv.Itoa(gcBatch)+`)`, tenant, horizon)
}

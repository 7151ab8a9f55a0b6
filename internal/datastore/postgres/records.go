package postgres

import (
	"context"
	"errors"
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

// queueRecords queues the statements that apply a transaction's record writes at rev:
// end the live version of every record written, insert the new versions and their
// keys.
func queueRecords(batch *pgx.Batch, tenant string, rev int64, pending []datastore.PendingRecord) {
	if len(pending) == 0 {
		return
	}
	var kinds, ids []string
	var newKinds, newIDs []string
	var datas [][]byte
	var keyLists []string // each version's keys, for the key rows
	var kk, ki, kkey []string
	for _, p := range pending {
		kinds, ids = append(kinds, p.Record.Kind), append(ids, p.Record.ID)
		if p.Deleted {
			continue
		}
		newKinds, newIDs = append(newKinds, p.Record.Kind), append(newIDs, p.Record.ID)
		data := p.Record.Data
		if data == nil {
			data = []byte{}
		}
		datas = append(datas, data)
		keyLists = append(keyLists, encodeTextArray(p.Record.Keys))
		seen := map[string]bool{}
		for _, k := range p.Record.Keys {
			if !seen[k] {
				seen[k] = true
				kk, ki, kkey = append(kk, p.Record.Kind), append(ki, p.Record.ID), append(kkey, k)
			}
		}
	}
	batch.Queue(`UPDATE records SET deleted_rev = $2 WHERE tenant = $1 AND deleted_rev IS NULL
		AND (kind, id) IN (SELECT u.kind, u.id FROM unnest($3::TEXT[], $4::TEXT[]) AS u (kind, id))`, tenant, rev, kinds, ids)
	if len(newIDs) > 0 {
		batch.Queue(`INSERT INTO records (tenant, kind, id, created_rev, data, keys)
			SELECT $1, u.kind, u.id, $2, u.data, u.keys::TEXT[] FROM unnest($3::TEXT[], $4::TEXT[], $5::BYTEA[], $6::TEXT[]) AS u (kind, id, data, keys)`,
			tenant, rev, newKinds, newIDs, datas, keyLists)
	}
	if len(kkey) > 0 {
		batch.Queue(`INSERT INTO record_keys (tenant, kind, key, id, created_rev)
			SELECT $1, u.kind, u.key, u.id, $2 FROM unnest($3::TEXT[], $4::TEXT[], $5::TEXT[]) AS u (kind, key, id)`,
			tenant, rev, kk, kkey, ki)
	}
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

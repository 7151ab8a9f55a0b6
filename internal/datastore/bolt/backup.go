package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"

	bbolt "go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// SnapshotInfo describes a consistent copy of the store's file: what CheckFile found
// in a datastore file or a backup.
type SnapshotInfo struct {
	// Size is the copy's length in bytes.
	Size int64
	// StoreID is the store's UniqueID. A restored copy keeps it, so revision tokens
	// issued before the backup stay valid against the restored store.
	StoreID string
	// Heads is every tenant's head revision in the copy, by tenant name.
	Heads map[string]datastore.Revision
}

// Backup writes a consistent snapshot of the whole file (every tenant) to w while
// reads and writes go on: it is one bbolt read transaction copied with tx.WriteTo,
// so it holds exactly the transactions committed before it began. begin is called
// before any byte is written, with the snapshot's size in bytes and every tenant's
// head revision in it; an error from begin or from w ends the backup.
//
// The read transaction stays open until the copy is written, so for that long the
// file cannot reuse pages that commits free, and a commit that must grow the file
// beyond its memory mapping waits for the backup to end: copy to a reader that keeps
// up (a local file, `pemba backup`).
func (s *Store) Backup(ctx context.Context, w io.Writer, begin func(size int64, heads map[string]datastore.Revision) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	err := s.db.View(func(tx *bbolt.Tx) error {
		info, err := snapshotInfo(tx)
		if err != nil {
			return err
		}
		if err := begin(info.Size, info.Heads); err != nil {
			return err
		}
		n, err := tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		if cerr := ctx.Err(); err != nil && cerr != nil {
			return cerr // bbolt formats some copy errors with %s, losing the cause
		}
		if err != nil {
			return err
		}
		if n != info.Size {
			return fmt.Errorf("the snapshot is %d bytes but %d were written", info.Size, n)
		}
		return nil
	})
	return mapErr(err)
}

// snapshotInfo reads what a transaction's snapshot holds: its size, the store's id
// and each tenant's head.
func snapshotInfo(tx *bbolt.Tx) (SnapshotInfo, error) {
	info := SnapshotInfo{Size: tx.Size(), Heads: map[string]datastore.Revision{}}
	meta := tx.Bucket(bucketMeta)
	tenants := tx.Bucket(bucketTenants)
	if meta == nil || tenants == nil {
		return SnapshotInfo{}, errors.New("the file has no Pemba metadata: it is not an embedded Pemba datastore")
	}
	if v := meta.Get([]byte("format")); string(v) != formatVersion {
		return SnapshotInfo{}, fmt.Errorf("the file has format version %q; this Pemba reads version %s", v, formatVersion)
	}
	info.StoreID = string(meta.Get([]byte("id")))
	err := tenants.ForEach(func(k, v []byte) error {
		rec, err := decodeTenantRecord(v)
		if err != nil {
			return fmt.Errorf("tenant %q: %w", k, err)
		}
		info.Heads[string(k)] = rec.head
		return nil
	})
	return info, err
}

// ctxWriter stops a copy when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// maxCheckProblems is how many problems CheckFile reports of a damaged file.
const maxCheckProblems = 10

// Errors of checking, writing and restoring snapshot files, each of one of the
// datastore's kinds.
var (
	// ErrBadFile: a file is not a complete, consistent embedded datastore.
	ErrBadFile = datastore.Sentinel("not a usable embedded Pemba datastore", datastore.ErrInvalidArgument)
	// ErrInUse: another process holds the datastore's file lock.
	ErrInUse = datastore.Sentinel("in use by another process", datastore.ErrFailedPrecondition)
	// ErrFileExists: the file a backup or restore would write exists and replacing
	// it was not asked for.
	ErrFileExists = datastore.Sentinel("exists already", datastore.ErrAlreadyExists)
)

// CheckFile checks a file of the embedded store without changing it: a datastore
// file or a backup of one. It runs bbolt's consistency check over every page (each
// page reachable once, none beyond the end, keys in order) and then reads Pemba's
// metadata and tenant records. A running server's file is refused: stop it first.
func CheckFile(path string) (SnapshotInfo, error) {
	if _, err := os.Stat(path); err != nil {
		return SnapshotInfo{}, err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: DefaultLockTimeout})
	if errors.Is(err, bberrors.ErrTimeout) {
		return SnapshotInfo{}, fmt.Errorf("%s is %w (its file lock was not released within %s): stop its server first", path, ErrInUse, DefaultLockTimeout)
	}
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%s is %w: %w", path, ErrBadFile, err)
	}
	defer db.Close()
	var info SnapshotInfo
	err = db.View(func(tx *bbolt.Tx) error {
		// A file shorter than its metadata says (a copy cut short) would fault when
		// the check maps pages beyond its end.
		if size := fileSize(path); size < tx.Size() {
			return fmt.Errorf("it is truncated: %d bytes, but its metadata says %d", size, tx.Size())
		}
		var problems []error
		// The check runs in its own goroutine until the channel closes, so it is
		// drained to the end even past the problems reported.
		for err := range tx.Check() {
			if len(problems) < maxCheckProblems {
				problems = append(problems, err)
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("it fails bbolt's consistency check: %w", errors.Join(problems...))
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil && !slices.ContainsFunc(recordBuckets, func(b []byte) bool { return bytes.Equal(b, name) }) {
				return fmt.Errorf("it has no %q bucket, so it is not an embedded Pemba datastore", name)
			}
		}
		info, err = snapshotInfo(tx)
		return err
	})
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%s is %w: %w", path, ErrBadFile, err)
	}
	return info, nil
}

// WriteSnapshotFile writes a snapshot of the store (what Backup streams) to path so
// that path only ever holds a complete, checked copy: fill writes into path.tmp,
// which is synced, checked with CheckFile and then renamed to path (and the rename
// synced). An existing path is replaced only when replace is set. On failure path is
// untouched and path.tmp removed.
func WriteSnapshotFile(path string, replace bool, fill func(io.Writer) error) (SnapshotInfo, error) {
	if _, err := os.Stat(path); err == nil && !replace {
		return SnapshotInfo{}, fmt.Errorf("%s %w: pass --force to replace it", path, ErrFileExists)
	}
	tmp := path + ".tmp"
	// O_EXCL: a path.tmp that exists belongs to a copy in progress or one that was
	// interrupted; neither is ours to remove.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return SnapshotInfo{}, fmt.Errorf("%s %w: another copy to %s is in progress or was interrupted; remove it if none is running", tmp, ErrFileExists, path)
	}
	if err != nil {
		return SnapshotInfo{}, err
	}
	info, err := writeChecked(f, fill)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return SnapshotInfo{}, err
	}
	return info, syncDir(filepath.Dir(path))
}

// writeChecked fills f, syncs and closes it, and checks what it holds.
func writeChecked(f *os.File, fill func(io.Writer) error) (SnapshotInfo, error) {
	err := fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return SnapshotInfo{}, err
	}
	return CheckFile(f.Name())
}

// Restore installs a backup file as the datastore in directory dir, for a server
// that is not running. The copy is written, synced and checked beside the datastore
// before it replaces it (WriteSnapshotFile), so an interrupted restore leaves dir as
// it was. A datastore in dir is replaced only when replace is set, and never while a
// process holds it.
func Restore(backup, dir string, replace bool) (SnapshotInfo, error) {
	if dir == "" {
		return SnapshotInfo{}, fmt.Errorf("datastore path is empty: %w", datastore.ErrInvalidArgument)
	}
	// Checked before anything in dir changes, so a bad backup is refused with dir
	// untouched (and named as the backup, not as a copy of it).
	if _, err := CheckFile(backup); err != nil {
		return SnapshotInfo{}, fmt.Errorf("the backup: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return SnapshotInfo{}, fmt.Errorf("creating datastore directory: %w", err)
	}
	target := filepath.Join(dir, FileName)
	if _, err := os.Stat(target); err == nil {
		if !replace {
			return SnapshotInfo{}, fmt.Errorf("%s %w: stop its server and pass --force to replace the datastore in %s", target, ErrFileExists, dir)
		}
		// Holding the old file's lock until the rename keeps a server from opening
		// it meanwhile; one that holds it already makes the restore fail here. A file
		// bbolt cannot open at all is replaced all the same: restoring over a damaged
		// datastore is what a backup is for.
		held, err := bbolt.Open(target, 0o600, &bbolt.Options{ReadOnly: true, Timeout: DefaultLockTimeout})
		if errors.Is(err, bberrors.ErrTimeout) {
			return SnapshotInfo{}, fmt.Errorf("datastore at %s is %w: stop its server before restoring", dir, ErrInUse)
		}
		if err == nil {
			defer held.Close()
		}
	}
	return WriteSnapshotFile(target, true, func(w io.Writer) error {
		in, err := os.Open(backup)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, in)
		return err
	})
}

// fileSize is the size of the file at path, or 0 when it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

package serve

import (
	"io"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/bolt"
)

// BackupFile describes a backup of the embedded store: a file `pemba backup` wrote,
// or the datastore `pemba restore` installed from one.
type BackupFile struct {
	// Size is the file's length in bytes.
	Size int64
	// StoreID is the datastore's identity, which a restored copy keeps.
	StoreID string
	// Tokens holds, for every tenant, the revision token of the newest transaction
	// in the file: reads at_least_as_fresh it see everything the file holds.
	Tokens map[string]string
}

// SaveBackup writes a backup to path: fill writes the bytes of a BackupService
// stream, and path only ever holds a complete copy that passed the embedded store's
// consistency check (see bolt.WriteSnapshotFile). An existing path is replaced only
// when replace is set.
func SaveBackup(path string, replace bool, fill func(io.Writer) error) (BackupFile, error) {
	info, err := bolt.WriteSnapshotFile(path, replace, fill)
	return backupFile(info), err
}

// Restore installs a backup as the embedded datastore in dir, for a server that is
// not running (see bolt.Restore). A datastore already in dir is replaced only when
// replace is set, and never while a server holds it.
func Restore(backup, dir string, replace bool) (BackupFile, error) {
	info, err := bolt.Restore(backup, dir, replace)
	return backupFile(info), err
}

func backupFile(info bolt.SnapshotInfo) BackupFile {
	f := BackupFile{Size: info.Size, StoreID: info.StoreID, Tokens: map[string]string{}}
	for tenant, head := range info.Heads {
		f.Tokens[tenant] = datastore.EncodeToken(info.StoreID, tenant, head)
	}
	return f
}

package server

import "time"

// SetBackupStall sets how long a backup waits for its client, for a test; the
// returned function restores it.
func SetBackupStall(d time.Duration) (restore func()) {
	old := backupStall
	backupStall = d
	return func() { backupStall = old }
}

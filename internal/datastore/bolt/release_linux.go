package bolt

import (
	"fmt"
	"syscall"
)

// ReleaseMappedPages drops the pages of the store's memory-mapped file from the
// process's resident set. The data stays in the kernel's page cache and is read back
// on the next access, so nothing changes but the process's resident memory: after
// the in-memory index has been built from a full scan, the mapped file would otherwise
// count a second copy of every relationship against the server.
func (s *Store) ReleaseMappedPages() error {
	// A read transaction holds bbolt's mapping lock, so the file cannot be remapped
	// (and the address reused) while the pages are released.
	tx, err := s.db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	info := s.db.Info()
	size := uintptr(tx.Size()) &^ uintptr(info.PageSize-1)
	if info.Data == 0 || size == 0 {
		return nil
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, info.Data, size, syscall.MADV_DONTNEED); errno != 0 {
		return fmt.Errorf("releasing the mapped pages of %s: %w", s.dir, errno)
	}
	return nil
}

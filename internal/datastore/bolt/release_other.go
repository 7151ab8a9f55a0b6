//go:build !linux

package bolt

// ReleaseMappedPages is a no-op where the pages of a mapped file cannot be released
// without unmapping it.
func (s *Store) ReleaseMappedPages() error { return nil }

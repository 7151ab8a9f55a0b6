package bolt

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// slowWriter makes a copy take a while, so commits land while it runs.
type slowWriter struct {
	w     io.Writer
	pause time.Duration
}

func (s slowWriter) Write(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.w.Write(p)
}

// numberedWriter commits numbered transactions (writeNumbered) one after another
// until stopped, recording each acknowledged one.
type numberedWriter struct {
	mu    sync.Mutex
	acked map[datastore.Revision]int
	err   error
	stop  chan struct{}
	done  chan struct{}
}

func startNumberedWriter(s *Store, limit int) *numberedWriter {
	w := &numberedWriter{acked: map[datastore.Revision]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 1; i <= limit; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			rev, err := writeNumbered(context.Background(), s, i)
			w.mu.Lock()
			if err != nil {
				w.err = err
				w.mu.Unlock()
				return
			}
			w.acked[rev] = i
			w.mu.Unlock()
		}
	}()
	return w
}

// snapshot copies the acknowledged transactions so far.
func (w *numberedWriter) snapshot() map[datastore.Revision]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[datastore.Revision]int, len(w.acked))
	for k, v := range w.acked {
		out[k] = v
	}
	return out
}

func (w *numberedWriter) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(w.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the writer acknowledged %d transactions in 30s, want %d (%v)", len(w.snapshot()), n, w.err)
		}
		time.Sleep(time.Millisecond)
	}
}

func (w *numberedWriter) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
}

// A backup taken while transactions commit is a consistent snapshot: restored into a
// new directory, it holds every transaction acknowledged before the backup began, each
// complete, and no part of any later one; the store's identity comes with it.
func TestBackupUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{ReverseBuffer: 500}) // merges happen during the run
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := startNumberedWriter(s, 5000)
	w.waitFor(t, 25)

	before := w.snapshot()
	var during int
	backup := filepath.Join(t.TempDir(), "pemba.backup")
	info, err := WriteSnapshotFile(backup, false, func(out io.Writer) error {
		return s.Backup(ctx, slowWriter{w: out, pause: 2 * time.Millisecond}, func(int64, map[string]datastore.Revision) error {
			during = len(w.snapshot())
			return nil
		})
	})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	after := len(w.snapshot())
	w.waitFor(t, after+3) // the writer was not held up for good
	w.finish(t)
	if after <= during {
		t.Fatalf("no transaction committed while the backup ran (%d before, %d after): the test shows nothing", during, after)
	}
	t.Logf("backup of %d bytes at heads %v; %d transactions acknowledged before it, %d while it ran", info.Size, info.Heads, len(before), after-during)

	head, ok := info.Heads[tuple.DefaultTenant]
	if info.StoreID != s.UniqueID() || len(info.Heads) != 1 || !ok {
		t.Fatalf("snapshot info %+v, store %s", info, s.UniqueID())
	}
	if head < datastore.Revision(len(before)) || int(head) > after {
		t.Fatalf("the snapshot is at revision %d; %d were acknowledged before it began and %d when it ended", head, len(before), after)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Size() != info.Size {
		t.Fatalf("backup file: %v %v, want %d bytes", fi, err, info.Size)
	}

	dir := t.TempDir()
	restored, err := Restore(backup, dir, false)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if restored.StoreID != info.StoreID || restored.Heads[tuple.DefaultTenant] != head {
		t.Fatalf("restored %+v, backed up %+v", restored, info)
	}
	if got := verifyAfterCrash(t, dir, before); got != head {
		t.Fatalf("the restored store is at revision %d, the backup at %d", got, head)
	}
	r, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.UniqueID() != s.UniqueID() {
		t.Fatalf("the restored store is %s, the original %s: tokens would not carry over", r.UniqueID(), s.UniqueID())
	}
	write(t, r, tuple.DefaultTenant, datastore.OpTouch, "document:after#viewer@user:restore")
}

// Restore refuses what would lose data or corrupt a store, and leaves the directory
// as it was: a damaged or truncated backup, an existing datastore without replace, a
// datastore a process holds.
func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	src, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, src, tuple.DefaultTenant, datastore.OpTouch, "document:a#viewer@user:x")
	backup := filepath.Join(t.TempDir(), "good.backup")
	if _, err := WriteSnapshotFile(backup, false, func(w io.Writer) error {
		return src.Backup(ctx, w, func(int64, map[string]datastore.Revision) error { return nil })
	}); err != nil {
		t.Fatal(err)
	}
	// The same path again: refused unless replaced explicitly.
	_, err = WriteSnapshotFile(backup, false, func(io.Writer) error { t.Fatal("filled an existing file"); return nil })
	if !errors.Is(err, datastore.ErrAlreadyExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	src.Close()
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	target, err := Restore(backup, dir, false)
	if err != nil || target.Heads[tuple.DefaultTenant] != 1 {
		t.Fatalf("restore into an empty directory: %+v %v", target, err)
	}
	installed, _ := os.ReadFile(filepath.Join(dir, FileName))

	bad := map[string][]byte{
		"truncated": raw[:len(raw)/2],
		"garbage":   []byte(strings.Repeat("not a datastore ", 1024)),
		"damaged":   damagePage(raw),
	}
	for name, content := range bad {
		file := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(file, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Restore(file, dir, true)
		t.Logf("%s: %v", name, err)
		if !errors.Is(err, ErrBadFile) || !errors.Is(err, datastore.ErrInvalidArgument) || !strings.Contains(err.Error(), "the backup") {
			t.Errorf("restoring a %s backup: %v, want ErrBadFile naming the backup", name, err)
		}
	}
	_, err = Restore(backup, dir, false)
	if !errors.Is(err, datastore.ErrAlreadyExists) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore over a datastore without replace: %v", err)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, FileName)); string(now) != string(installed) {
		t.Fatal("a refused restore changed the datastore")
	}
	held, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, held, tuple.DefaultTenant, datastore.OpTouch, "document:b#viewer@user:x")
	_, err = Restore(backup, dir, true)
	if !errors.Is(err, ErrInUse) || !errors.Is(err, datastore.ErrFailedPrecondition) {
		t.Errorf("restore over a datastore in use: %v", err)
	}
	if got := all(t, held, tuple.DefaultTenant, 2); len(got) != 2 {
		t.Errorf("the store in use after a refused restore: %v", got)
	}
	held.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("a refused restore left files behind: %v", entries)
	}
	// With replace and no server, the datastore is replaced: the write made since
	// the backup is gone.
	if info, err := Restore(backup, dir, true); err != nil || info.Heads[tuple.DefaultTenant] != 1 {
		t.Fatalf("restore with replace: %+v %v", info, err)
	}
	if info, err := CheckFile(filepath.Join(dir, FileName)); err != nil || info.Heads[tuple.DefaultTenant] != 1 {
		t.Fatalf("the replaced datastore: %+v %v", info, err)
	}
}

// damagePage returns a copy of a datastore file with a page of the relationship data
// overwritten, as a bad disk would leave it.
func damagePage(raw []byte) []byte {
	out := append([]byte(nil), raw...)
	page := os.Getpagesize()
	for off := 2 * page; off+page <= len(out); off += page {
		// Overwrite every data page's header after the two meta pages: the check
		// finds unreachable or malformed pages.
		for i := range 16 {
			out[off+i] ^= 0xff
		}
	}
	return out
}

// A commit that fails because the disk is full is ErrDiskFull, of the resource
// exhausted kind, and says what to do; bbolt's own wording of the errno counts too.
func TestDiskFullErrors(t *testing.T) {
	for _, err := range []error{
		&os.PathError{Op: "write", Path: "/data/pemba.db", Err: syscall.ENOSPC},
		&os.PathError{Op: "write", Path: "/data/pemba.db", Err: syscall.EDQUOT},
		errors.New("file resize error: truncate /data/pemba.db: " + syscall.ENOSPC.Error()),
	} {
		got := mapErr(err)
		if !errors.Is(got, ErrDiskFull) || !errors.Is(got, datastore.ErrResourceExhausted) {
			t.Errorf("mapErr(%v) = %v, want ErrDiskFull", err, got)
		}
		for _, want := range []string{"disk holding the embedded datastore is full", "nothing was written", "free space", err.Error()} {
			if !strings.Contains(got.Error(), want) {
				t.Errorf("mapErr(%v) = %q, want it to say %q", err, got, want)
			}
		}
		if again := mapErr(got); again != got {
			t.Errorf("mapping twice changed %q to %q", got, again)
		}
	}
	if err := mapErr(errors.New("some other failure")); errors.Is(err, ErrDiskFull) {
		t.Errorf("an unrelated error became %v", err)
	}
}

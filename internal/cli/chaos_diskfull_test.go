package cli

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore/bolt"
)

// mountSmallFS mounts a tmpfs of the given size on a new directory and unmounts it
// when the test ends. It needs root: it skips for other users and fails when root
// cannot mount, so CI (root) always runs the tests that use it.
func mountSmallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("this test mounts a small file system, which needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "pemba-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a %s tmpfs on %s as root: %v\n%s", size, dir, err, out)
	}
	// Registered after TempDir's removal, so it runs before it.
	t.Cleanup(func() {
		for i := 0; ; i++ {
			out, err := exec.Command("umount", dir).CombinedOutput()
			if err == nil {
				return
			}
			if i == 50 {
				t.Errorf("unmounting %s: %v\n%s", dir, err, out)
				return
			}
			time.Sleep(100 * time.Millisecond) // a process that held it is still exiting
		}
	})
	return dir
}

// fillDisk writes a file into dir until the file system is full and returns its
// path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for i := 0; i < 1<<16; i++ { // bounded: 4 GiB, far beyond any test file system
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
	t.Fatal("the file system never filled up")
	return ""
}

// TestEmbeddedStoreDiskFull runs the real server with its embedded store on a small
// file system and fills it: writes fail with RESOURCE_EXHAUSTED saying the disk is
// full, reads and checks go on and answer what was acknowledged, and once space is
// freed writes succeed again. The file then passes the consistency check and a
// restarted server finds every acknowledged write.
func TestEmbeddedStoreDiskFull(t *testing.T) {
	mnt := mountSmallFS(t, "48m")
	dir := filepath.Join(mnt, "data")
	p := startServe(t, nil, "--datastore-path", dir)
	conn := dialProc(t, p.grpcAddr)
	writeLedgerSchema(t, conn)
	l := newLedger(conn, 400) // large transactions: the file grows fast
	ctx := context.Background()
	for range 5 {
		if err := l.write(ctx, "w0"); err != nil {
			t.Fatalf("a write before the disk is full: %v", err)
		}
	}
	filler := fillDisk(t, mnt)

	// Pages the file has freed are reused first, so writes may go on for a while.
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		full = l.write(ctx, "w0")
	}
	if full == nil {
		t.Fatal("1000 large writes after the disk filled up all succeeded")
	}
	wantDiskFull(t, full)
	t.Logf("full after %d acknowledged transactions: %v", l.ackedCount(), full)
	for _, w := range []string{"w0", "w1"} {
		wantDiskFull(t, l.write(ctx, w))
	}

	// Reads and checks go on, and answer what was acknowledged.
	l.verify(t, conn)
	for _, tx := range l.snapshot()["w0"].acked {
		if err := l.checkAt(t, ctx, conn, "w0", tx, tx.n); err != nil {
			t.Fatalf("a check while the disk is full: %v", err)
		}
	}
	resp, err := http.Get("http://" + p.httpAddr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while the disk is full: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}

	// Space returns: writes succeed at once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"w0", "w1", "w0"} {
		if err := l.write(ctx, w); err != nil {
			t.Fatalf("a write after space was freed: %v", err)
		}
	}
	l.verify(t, conn)
	stopProc(t, p)

	if _, err := bolt.CheckFile(filepath.Join(dir, bolt.FileName)); err != nil {
		t.Fatalf("the datastore after the disk was full: %v", err)
	}
	q := startServe(t, nil, "--datastore-path", dir)
	l.verify(t, dialProc(t, q.grpcAddr))
	stopProc(t, q)
}

// wantDiskFull fails unless err is the disk-full refusal.
func wantDiskFull(t *testing.T, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("a write on a full disk: %v %q, want RESOURCE_EXHAUSTED", st.Code(), st.Message())
	}
	for _, want := range []string{"disk holding the embedded datastore is full", "nothing was written", "free space", "no space left on device"} {
		if !strings.Contains(st.Message(), want) {
			t.Errorf("the disk-full error %q does not say %q", st.Message(), want)
		}
	}
}

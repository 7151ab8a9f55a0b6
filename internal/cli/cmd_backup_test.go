package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore/bolt"
)

// tenantTokenRE finds the "tenant NAME: TOKEN" lines of backup and restore.
var tenantTokenRE = regexp.MustCompile(`(?m)^tenant (\S+): (\S+)$`)

// TestBackupRestoreUnderLoad backs up a running server with `pemba backup` while
// writers commit, restores the file with `pemba restore` into a new directory, and
// starts a server on it: every transaction acknowledged before the backup began is
// there, whole, nothing later than the backup is, the tokens of the old server work
// on the restored one, and the restored file passes the consistency check.
func TestBackupRestoreUnderLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, nil, "--datastore-path", dir)
	conn := dialProc(t, p.grpcAddr)
	writeLedgerSchema(t, conn)
	l := newLedger(conn, 50)

	ctx, stop := context.WithCancel(context.Background())
	wg := l.runWriters(ctx, "", 3, failures(func(err error) { t.Errorf("write: %v", err) }))
	defer func() { stop(); wg.Wait() }()
	l.waitAcked(t, 60)

	cli := newCLI(t, p, "")
	file := filepath.Join(t.TempDir(), "pemba.backup")
	before := l.snapshot()
	r := cli.ok("backup", file)
	ackedDuring := l.ackedCount()
	stop()
	wg.Wait()
	mustContain(t, r, r.stdout, "backup: "+file+" (", "bytes, sha256 ", "store: bolt-")
	m := tenantTokenRE.FindAllStringSubmatch(r.stdout, -1)
	if len(m) != 1 || m[0][1] != "default" {
		t.Fatalf("the backup names no default tenant token:\n%s", r)
	}
	backupToken := m[0][2]
	t.Logf("%d transactions acknowledged before the backup, %d when it ended, %d in all", countAcked(before), ackedDuring, l.ackedCount())

	// The same file again: refused without --force, replaced with it.
	r = cli.expect(exitError, "backup", file)
	mustContain(t, r, r.stderr, "exists", "--force")

	restored := filepath.Join(t.TempDir(), "restored")
	r = cli.ok("restore", file, "--datastore-path", restored)
	mustContain(t, r, r.stdout, "restored "+file+" into "+restored, "tenant default: "+backupToken)
	if _, err := bolt.CheckFile(filepath.Join(restored, bolt.FileName)); err != nil {
		t.Fatalf("the restored datastore fails the check: %v", err)
	}

	q := startServe(t, nil, "--datastore-path", restored)
	qconn := dialProc(t, q.grpcAddr)
	prefixes := l.verifyAgainst(t, qconn, before)
	// Tokens of the original server are valid on the restored one: at each writer's
	// last transaction the backup holds, its batches read as they were.
	for name, w := range l.snapshot() {
		if n := prefixes[name]; n > 0 && n <= len(w.acked) {
			if err := l.checkAt(t, context.Background(), qconn, name, w.acked[n-1], 0); err != nil {
				t.Errorf("check on the restored server with the original's token: %v", err)
			}
		}
	}
	// Nothing after the backup: its token is the restored head.
	if got := headToken(t, qconn); got != backupToken {
		t.Errorf("the restored head token is %s, the backup's %s", got, backupToken)
	}
	stopProc(t, q)
	stopProc(t, p)
}

// countAcked counts the acknowledged transactions in writer logs.
func countAcked(logs map[string]writerLog) int {
	n := 0
	for _, w := range logs {
		n += len(w.acked)
	}
	return n
}

// TestBackupRestoreRefusals: what backup and restore refuse, with exit status 2 and a
// message that says why.
func TestBackupRestoreRefusals(t *testing.T) {
	mem := startClientServer(t)
	file := filepath.Join(t.TempDir(), "x.backup")
	r := newCLI(t, mem, cliAdminSecret).expect(exitError, "backup", file)
	mustContain(t, r, r.stderr, "pemba: FAILED_PRECONDITION:", "embedded datastore", "pg_dump")
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a refused backup left a file")
	}
	if _, err := os.Stat(file + ".tmp"); err == nil {
		t.Fatal("a refused backup left its temporary file")
	}

	dir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, nil, "--datastore-path", dir, "--preshared-key", "admin:admin:"+cliAdminSecret, "--preshared-key", "auditor:reader:"+cliReaderSecret)
	r = newCLI(t, p, cliReaderSecret).expect(exitError, "backup", file)
	mustContain(t, r, r.stderr, "pemba: PERMISSION_DENIED:", "needs an admin key")
	newCLI(t, p, cliAdminSecret).ok("backup", file)

	offline := newCLI(t, nil, "")
	// Restoring over the running server's datastore: refused, even with --force.
	r = offline.expect(exitError, "restore", file, "--datastore-path", dir)
	mustContain(t, r, r.stderr, "exists already", "--force")
	r = offline.expect(exitError, "restore", file, "--datastore-path", dir, "--force")
	mustContain(t, r, r.stderr, "in use by another process", "stop its server")

	// A damaged backup: refused before the directory is touched.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.backup")
	if err := os.WriteFile(cut, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	r = offline.expect(exitError, "restore", cut, "--datastore-path", empty)
	mustContain(t, r, r.stderr, "the backup", "not a usable embedded Pemba datastore", "truncated")
	if _, err := os.Stat(empty); err == nil {
		t.Error("a refused restore created the datastore directory")
	}
	r = offline.expect(exitError, "restore", file, "--datastore-path", empty, "-o", "yaml")
	mustContain(t, r, r.stderr, `--output "yaml"`)

	// JSON output, for scripts.
	got := decodeJSON[backupJSON](t, offline.ok("restore", file, "--datastore-path", empty, "-o", "json"))
	if got.Datastore != empty || got.SizeBytes != int64(len(raw)) || len(got.Tenants) != 1 || got.Tenants[0].Tenant != "default" {
		t.Errorf("restore -o json: %+v", got)
	}
}

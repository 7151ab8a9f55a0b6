package cli

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// privatePostgres is a PostgreSQL cluster of one test's own on a loopback port, so
// the test may stop and start it without touching the shared server.
type privatePostgres struct {
	bin, root, data string
	port            int
	// asPostgres prefixes its commands when the test runs as root: initdb refuses
	// root, so the cluster belongs to the postgres user.
	asPostgres []string
}

// postgresBin finds the directory of initdb and pg_ctl: on PATH, or the newest
// /usr/lib/postgresql/*/bin.
func postgresBin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real)
		}
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(found)
	if len(found) == 0 {
		return ""
	}
	return filepath.Dir(found[len(found)-1])
}

// startPrivatePostgres creates and starts a cluster; it is stopped and removed when
// the test ends.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		t.Skip("initdb is not installed (neither on PATH nor in /usr/lib/postgresql/*/bin): this test runs a private PostgreSQL cluster")
	}
	// Under the system temp directory rather than t.TempDir, whose parent only root
	// may enter.
	root, err := os.MkdirTemp("", "pemba-pg-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	pg := &privatePostgres{bin: bin, root: root, data: filepath.Join(root, "data"), port: freePort(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("as root the test runs PostgreSQL as the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asPostgres = []string{"runuser", "-u", "postgres", "--"}
	}
	pg.run(t, "initdb", "-D", pg.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	pg.start(t)
	t.Cleanup(func() { _ = pg.command("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop").Run() })
	return pg
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (pg *privatePostgres) command(tool string, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), pg.asPostgres...), filepath.Join(pg.bin, tool)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = pg.root
	return cmd
}

func (pg *privatePostgres) run(t *testing.T, tool string, args ...string) {
	t.Helper()
	if out, err := pg.command(tool, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.root, "postgres.log"))
		t.Fatalf("%s %v: %v\n%s\n%s", tool, args, err, out, log)
	}
}

// start starts the cluster and returns once it accepts connections. fsync is off:
// the test kills the server process, never the machine, and the operating system
// keeps what PostgreSQL wrote.
func (pg *privatePostgres) start(t *testing.T) {
	t.Helper()
	pg.run(t, "pg_ctl", "-D", pg.data, "-l", filepath.Join(pg.root, "postgres.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", pg.port, pg.root), "start")
}

// stop stops the cluster the way a crash does: no checkpoint, connections cut.
func (pg *privatePostgres) stop(t *testing.T) {
	t.Helper()
	pg.run(t, "pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop")
}

func (pg *privatePostgres) uri() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", pg.port)
}

// outcome is one call of the outage test's load.
type outcome struct {
	start, end time.Time
	write      bool
	code       codes.Code
	msg        string
}

// outcomes records the load's calls.
type outcomes struct {
	mu  sync.Mutex
	all []outcome
}

func (o *outcomes) add(start time.Time, write bool, err error) {
	st := status.Convert(err)
	o.mu.Lock()
	o.all = append(o.all, outcome{start: start, end: time.Now(), write: write, code: st.Code(), msg: st.Message()})
	o.mu.Unlock()
}

// TestPostgresOutage runs the real server on a private PostgreSQL cluster under
// concurrent writes and checks, stops PostgreSQL abruptly mid-load and starts it
// again: while it is away every failure is UNAVAILABLE, every answer given is the
// right one for the revision asked, within 5s of its return every call succeeds
// again, and afterwards no acknowledged write is lost or partly applied.
func TestPostgresOutage(t *testing.T) {
	pg := startPrivatePostgres(t)
	if out, err := exec.Command(pembaBin, "migrate", "--datastore-uri", pg.uri()).CombinedOutput(); err != nil {
		t.Fatalf("pemba migrate: %v\n%s", err, out)
	}
	p := startServe(t, nil, "--datastore", "postgres", "--datastore-uri", pg.uri())
	conn := dialProc(t, p.grpcAddr)
	writeLedgerSchema(t, conn)
	l := newLedger(conn, 10)
	var calls outcomes

	ctx, stopLoad := context.WithCancel(context.Background())
	wg := l.runWriters(ctx, "", 3, func(start time.Time, err error) { calls.add(start, true, err) })
	for k := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checkLoad(t, ctx, l, &calls, uint64(k))
		}()
	}
	defer func() { stopLoad(); wg.Wait() }()

	l.waitAcked(t, 20)
	down := time.Now()
	pg.stop(t)
	// The CLI, asked during the outage, says the server answers and its datastore
	// does not, rather than asking whether a server listens.
	r := newCLI(t, p, "").run("check", "batch:w0-1", "member", "user:m0", "--consistency", "fully_consistent")
	if r.code != exitError || !strings.Contains(r.stderr, "UNAVAILABLE") || !strings.Contains(r.stderr, "answers, but it cannot reach its datastore") ||
		strings.Contains(r.stderr, "is a Pemba server listening") {
		t.Errorf("the CLI during the outage:\n%s", r)
	}
	time.Sleep(time.Second)
	pg.start(t)
	up := time.Now()
	time.Sleep(7 * time.Second) // 5s to recover, then 2s that must be clean
	stopLoad()
	wg.Wait()

	judgeOutage(t, calls.all, down, up)
	l.verify(t, conn)
	select {
	case err := <-p.exited:
		t.Fatalf("the server exited during the outage: %v\n%s", err, p.log())
	default:
	}
	stopProc(t, p)
}

// checkLoad checks acknowledged transactions at their exact revisions until ctx
// ends, comparing every answer with what was written (checkAt).
func checkLoad(t *testing.T, ctx context.Context, l *ledger, calls *outcomes, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	for ctx.Err() == nil {
		var pick []struct {
			name string
			tx   ackedTx
		}
		for name, w := range l.snapshot() {
			for _, tx := range w.acked {
				pick = append(pick, struct {
					name string
					tx   ackedTx
				}{name, tx})
			}
		}
		if len(pick) == 0 {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		c := pick[rng.IntN(len(pick))]
		start := time.Now()
		callCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := l.checkAt(t, callCtx, l.conn, c.name, c.tx, rng.IntN(l.perTx))
		cancel()
		calls.add(start, false, err)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// judgeOutage checks the calls against the outage that began at down and ended at
// up: no failure before it, only UNAVAILABLE during it and the 5s after it, none
// after that; failures during it (the load met the outage) and successes after it.
func judgeOutage(t *testing.T, calls []outcome, down, up time.Time) {
	t.Helper()
	recovered := up.Add(5 * time.Second)
	var failed, okDuring, okAfter, writesAfter int
	var firstOK time.Time
	for _, c := range calls {
		switch {
		case c.code == codes.OK:
			if c.start.After(down) && c.end.Before(up) {
				okDuring++
			}
			if c.start.After(up) && (firstOK.IsZero() || c.end.Before(firstOK)) {
				firstOK = c.end
			}
			if c.start.After(recovered) {
				okAfter++
				if c.write {
					writesAfter++
				}
			}
		case c.end.Before(down):
			t.Errorf("a call failed before the outage: %v %s", c.code, c.msg)
		case c.start.After(recovered):
			t.Errorf("a call started %s after PostgreSQL returned failed: %v %s", c.start.Sub(up).Round(time.Millisecond), c.code, c.msg)
		case c.code != codes.Unavailable:
			t.Errorf("a call during the outage failed with %v, want UNAVAILABLE: %s", c.code, c.msg)
		default:
			failed++
		}
	}
	t.Logf("%d calls: %d UNAVAILABLE and %d answered during the outage; first success %s after PostgreSQL returned; %d successes (%d writes) after recovery",
		len(calls), failed, okDuring, firstOK.Sub(up).Round(time.Millisecond), okAfter, writesAfter)
	if failed == 0 {
		t.Error("no call failed while PostgreSQL was stopped: the load never met the outage")
	}
	if writesAfter == 0 || okAfter == writesAfter {
		t.Errorf("after recovery %d calls succeeded, %d of them writes: the load did not resume", okAfter, writesAfter)
	}
}

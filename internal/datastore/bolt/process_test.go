package bolt

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// The tests below run the test binary again as a child process in one of these roles,
// chosen by environment variables, so the child is a real separate process holding its
// own file lock.
const (
	envRole = "PEMBA_BOLT_TEST_ROLE"
	envDir  = "PEMBA_BOLT_TEST_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "":
		os.Exit(m.Run())
	case "open":
		os.Exit(childOpen(os.Getenv(envDir)))
	case "writer":
		os.Exit(childWriter(os.Getenv(envDir)))
	case "import":
		os.Exit(childImport(os.Getenv(envDir)))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
}

func child(role, dir string, extraEnv ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), envRole+"="+role, envDir+"="+dir), extraEnv...)
	return cmd
}

// childOpen opens the store and reports the outcome on stdout.
func childOpen(dir string) int {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("error:", err)
		return 3
	}
	fmt.Println("opened")
	_ = s.Close()
	return 0
}

// crashBatch is how many relationships every transaction of the writer child writes.
const crashBatch = 8

// writeNumbered commits transaction number i of the shape verifyAfterCrash checks:
// it creates crashBatch members of batch:b<i> (every tenth one also 2,000 bulk rows,
// so some commits write many pages) and moves the single marker:latest to it. Numbers
// start at 1 on an empty store and go up by one, so number i commits at revision i.
func writeNumbered(ctx context.Context, s *Store, i int) (datastore.Revision, error) {
	return s.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{Principal: "crash", Reason: strconv.Itoa(i)}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		var ups []datastore.Update
		for j := range crashBatch {
			ups = append(ups, datastore.Update{Op: datastore.OpCreate, Relationship: tuple.MustParse(fmt.Sprintf("batch:b%06d#member@user:u%d", i, j))})
		}
		if i%10 == 0 {
			for j := range 2000 {
				ups = append(ups, datastore.Update{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("bulk:b%06d-%04d#member@user:u%d", i, j, j%97))})
			}
		}
		if _, _, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "marker"}, 0); err != nil {
			return err
		}
		ups = append(ups, datastore.Update{Op: datastore.OpCreate, Relationship: tuple.MustParse(fmt.Sprintf("marker:latest#points@batch:b%06d", i))})
		return tx.WriteRelationships(ctx, ups)
	})
}

// childWriter streams write transactions (writeNumbered) until killed; it prints
// "ack <revision> <i>" only after ReadWriteTx returned.
func childWriter(dir string) int {
	buffer, _ := strconv.Atoi(os.Getenv("PEMBA_BOLT_TEST_REVERSE_BUFFER"))
	s, err := Open(dir, Options{ReverseBuffer: buffer})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	ctx := context.Background()
	head, _ := s.HeadRevision(ctx, tuple.DefaultTenant)
	out := bufio.NewWriter(os.Stdout)
	for i := int(head) + 1; i < 1_000_000; i++ {
		rev, err := writeNumbered(ctx, s, i)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 4
		}
		fmt.Fprintf(out, "ack %d %d\n", rev, i)
		if err := out.Flush(); err != nil {
			return 5
		}
	}
	return 0
}

// TestCrashKeepsAcknowledgedWrites kills a writing child process with SIGKILL at a
// random point, several times over the same directory, and checks after each crash
// that every acknowledged transaction is complete and that no transaction is partly
// visible.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := map[datastore.Revision]int{} // revision → transaction number
	for round := range 4 {
		// Odd rounds merge the reverse-index buffer every few commits, so some kills
		// land in the middle of a merge; even rounds leave it all in the journal.
		buffer := DefaultReverseBuffer
		if round%2 == 1 {
			buffer = 700
		}
		cmd := child("writer", dir, fmt.Sprintf("PEMBA_BOLT_TEST_REVERSE_BUFFER=%d", buffer))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		killAfter := 15 + rng.IntN(40)
		sc := bufio.NewScanner(stdout)
		n := 0
		killed := false
		for sc.Scan() {
			var rev datastore.Revision
			var i int
			if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &rev, &i); err != nil {
				t.Fatalf("round %d: unexpected child output %q", round, sc.Text())
			}
			acked[rev] = i
			n++
			if n == killAfter && !killed {
				// Let the next commit get under way, then kill mid-stream.
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the child was not killed by SIGKILL: %v\n%s", round, err, stderr.String())
		}
		head := verifyAfterCrash(t, dir, acked)
		t.Logf("round %d: killed after %d acknowledged transactions; head %d, %d acknowledged in all", round, n, head, len(acked))
	}
}

// verifyAfterCrash reopens the store and checks it; it returns the head.
func verifyAfterCrash(t *testing.T, dir string, acked map[datastore.Revision]int) datastore.Revision {
	t.Helper()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopening after the crash: %v", err)
	}
	defer s.Close()
	head, err := s.HeadRevision(ctx, tuple.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	for rev := range acked {
		if rev > head {
			t.Fatalf("transaction %d was acknowledged but the head after the crash is %d", rev, head)
		}
	}
	// Every transaction up to the head is complete and nothing beyond it exists.
	batches := map[string]int{}
	bulk := map[string]int{}
	markers := 0
	for r, err := range s.SnapshotReader(tuple.DefaultTenant, head).QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		switch r.Resource.Type {
		case "batch":
			batches[r.Resource.ID]++
		case "bulk":
			bulk[r.Resource.ID[:7]]++
		case "marker":
			markers++
			if want := fmt.Sprintf("b%06d", head); r.Subject.ID != want {
				t.Fatalf("the marker points at %s at head %d", r.Subject.ID, head)
			}
		}
	}
	if len(batches) != int(head) || markers != 1 {
		t.Fatalf("head %d but %d batches and %d markers are visible", head, len(batches), markers)
	}
	for id, n := range batches {
		if n != crashBatch {
			t.Fatalf("batch %s has %d of its %d relationships: a transaction is partly visible", id, n, crashBatch)
		}
	}
	for id, n := range bulk {
		if n != 2000 {
			t.Fatalf("bulk rows of %s: %d of 2000", id, n)
		}
	}
	for rev, i := range acked {
		want := fmt.Sprintf("b%06d", i)
		if batches[want] != crashBatch {
			t.Fatalf("acknowledged transaction %d (revision %d) is missing", i, rev)
		}
	}
	// The reverse index agrees: every batch has member user:u3, the marker points at
	// the newest batch only, and each bulk user has its rows.
	reader := s.SnapshotReader(tuple.DefaultTenant, head)
	n := 0
	for r, err := range reader.ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user", IDs: []string{"u3"}}, datastore.ReverseQueryOptions{ResourceType: "batch"}) {
		if err != nil {
			t.Fatal(err)
		}
		if batches[r.Resource.ID] != crashBatch {
			t.Fatalf("the reverse index lists %s, which the forward index does not hold", r)
		}
		n++
	}
	if n != int(head) {
		t.Fatalf("the reverse index lists %d batches for user:u3, want %d", n, head)
	}
	pointed := 0
	for r, err := range reader.ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "batch"}, datastore.ReverseQueryOptions{ResourceType: "marker"}) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Subject.ID != fmt.Sprintf("b%06d", head) {
			t.Fatalf("the reverse index has the marker at %s at head %d", r.Subject.ID, head)
		}
		pointed++
	}
	if pointed != 1 {
		t.Fatalf("the reverse index has %d markers", pointed)
	}
	bulkRows := 0
	for _, n := range bulk {
		bulkRows += n
	}
	revBulk := 0
	for _, err := range reader.ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user"}, datastore.ReverseQueryOptions{ResourceType: "bulk"}) {
		if err != nil {
			t.Fatal(err)
		}
		revBulk++
	}
	if revBulk != bulkRows {
		t.Fatalf("the reverse index has %d bulk rows, the forward index %d", revBulk, bulkRows)
	}
	// The audit trail has every transaction up to the head and nothing else.
	n = 0
	for txn, err := range s.ReadTransactions(ctx, tuple.DefaultTenant, datastore.TransactionFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if txn.Revision != head-datastore.Revision(n) || txn.Metadata.Reason != strconv.Itoa(int(txn.Revision)) {
			t.Fatalf("audit record %d: revision %d, reason %q", n, txn.Revision, txn.Metadata.Reason)
		}
		n++
	}
	if n != int(head) {
		t.Fatalf("%d audit records for head %d", n, head)
	}
	return head
}

// TestSecondProcessIsRefused opens a store and has a second process open the same
// directory: it must fail quickly with a clear error and leave the file intact.
func TestSecondProcessIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, tuple.DefaultTenant, datastore.OpTouch, "document:a#viewer@user:x")
	start := time.Now()
	out, err := child("open", dir).CombinedOutput()
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("a second process opened the locked store: %s", out)
	}
	if want := fmt.Sprintf("datastore at %s is in use by another process", dir); !strings.Contains(string(out), want) {
		t.Fatalf("the second process said %q, want it to contain %q", out, want)
	}
	if elapsed > 10*time.Second {
		t.Fatalf("the second process took %s to give up", elapsed)
	}
	// The first process is unaffected and keeps writing.
	write(t, s, tuple.DefaultTenant, datastore.OpTouch, "document:b#viewer@user:x")
	if got := all(t, s, tuple.DefaultTenant, 2); len(got) != 2 {
		t.Fatalf("after the refused open: %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Once released, another process opens it.
	out, err = child("open", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "opened") {
		t.Fatalf("a second process after Close: %v: %s", err, out)
	}
}

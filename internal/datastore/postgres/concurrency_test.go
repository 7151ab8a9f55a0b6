package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestConcurrentWriters runs many writers against one tenant while readers take
// snapshots, at both isolation levels, and checks the revision scheme:
//   - every committed transaction has its own revision and together they are 1..N;
//   - revisions follow commit order: a transaction that began after another had
//     committed has the higher revision;
//   - a read at revision R returns exactly the state built by transactions 1..R (replayed
//     from the transaction log), and the same answer before and after later commits.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	for _, serializable := range []bool{false, true} {
		t.Run(fmt.Sprintf("serializable=%v", serializable), func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t, Options{Serializable: serializable, MaxConns: 12})
			const writers, perWriter = 8, 15
			commits, snapshots := writeWhileReading(t, s, writers, perWriter)
			n := writers * perWriter
			checkRevisionOrder(t, s, commits, n)
			checkSnapshots(t, s, snapshots, replayLog(t, s, n))
		})
	}
}

// timedCommit is a committed transaction's revision and the monotonic clock readings
// around its ReadWriteTx.
type timedCommit struct {
	rev        datastore.Revision
	start, end time.Time
}

// writeWhileReading runs perWriter transactions in each of writers goroutines while a
// reader snapshots the head over and over, and returns the commits and the snapshots.
func writeWhileReading(t *testing.T, s *Store, writers, perWriter int) ([]timedCommit, map[datastore.Revision][]string) {
	ctx := context.Background()
	var (
		mu      sync.Mutex
		commits []timedCommit
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		errs    = make(chan error, writers+1)
	)
	record := func(c timedCommit) {
		mu.Lock()
		commits = append(commits, c)
		mu.Unlock()
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := writeTransactions(ctx, s, w, perWriter, record); err != nil {
				errs <- err
			}
		}()
	}
	// The reader's answers are compared with later reads at the same revisions.
	snapshots := map[datastore.Revision][]string{}
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		if err := snapshotHeads(ctx, s, stop, snapshots); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return commits, snapshots
}

// writeTransactions commits writer w's transactions. Each adds one relationship, and
// every third one also deletes the writer's previous one, so snapshots differ by
// deletions as well as additions.
func writeTransactions(ctx context.Context, s *Store, w, perWriter int, record func(timedCommit)) error {
	for i := range perWriter {
		ups := []datastore.Update{{Op: datastore.OpCreate, Relationship: tuple.MustParse(fmt.Sprintf("document:w%d_%d#viewer@user:u%d", w, i, i%3))}}
		if i%3 == 2 {
			ups = append(ups, datastore.Update{Op: datastore.OpDelete, Relationship: tuple.MustParse(fmt.Sprintf("document:w%d_%d#viewer@user:u%d", w, i-1, (i-1)%3))})
		}
		start := time.Now()
		rev, err := s.ReadWriteTx(ctx, "default", datastore.TxMetadata{Principal: fmt.Sprintf("w%d", w)}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, ups)
		})
		end := time.Now()
		if err != nil {
			return fmt.Errorf("writer %d, transaction %d: %w", w, i, err)
		}
		record(timedCommit{rev, start, end})
	}
	return nil
}

// snapshotHeads reads the whole tenant at its head into snapshots, over and over,
// until stop is closed.
func snapshotHeads(ctx context.Context, s *Store, stop <-chan struct{}, snapshots map[datastore.Revision][]string) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		head, err := s.HeadRevision(ctx, "default")
		if err != nil {
			return err
		}
		got, err := readAll(ctx, s, head)
		if err != nil {
			return err
		}
		snapshots[head] = got
	}
}

// checkRevisionOrder checks that the n commits took revisions 1..n in commit order
// and that the head is n.
func checkRevisionOrder(t *testing.T, s *Store, commits []timedCommit, n int) {
	t.Helper()
	sort.Slice(commits, func(i, j int) bool { return commits[i].rev < commits[j].rev })
	for i, c := range commits {
		if c.rev != datastore.Revision(i+1) {
			t.Fatalf("committed revisions are not 1..%d: position %d holds %d", n, i, c.rev)
		}
	}
	for _, a := range commits {
		for _, b := range commits {
			if a.end.Before(b.start) && a.rev > b.rev {
				t.Fatalf("revision %d committed before revision %d began", a.rev, b.rev)
			}
		}
	}
	if head, _ := s.HeadRevision(context.Background(), "default"); head != datastore.Revision(n) {
		t.Fatalf("head = %d, want %d", head, n)
	}
}

// replayLog replays the first n transactions of the log and returns the state after
// each revision, sorted.
func replayLog(t *testing.T, s *Store, n int) map[datastore.Revision][]string {
	t.Helper()
	want := map[datastore.Revision][]string{}
	state := map[string]bool{}
	var log []*datastore.Transaction
	wctx, cancel := context.WithCancel(context.Background())
	for tx, err := range s.Watch(wctx, "default", 0) {
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, tx)
		if len(log) == n {
			break
		}
	}
	cancel()
	for _, tx := range log {
		for _, c := range tx.Changes {
			state[c.Relationship.String()] = c.Kind != datastore.ChangeDeleted
		}
		var live []string
		for k, ok := range state {
			if ok {
				live = append(live, k)
			}
		}
		sort.Strings(live)
		want[tx.Revision] = live
	}
	return want
}

// checkSnapshots checks that every snapshot taken during the writes reads the same
// afterwards and is the state the log's transactions built.
func checkSnapshots(t *testing.T, s *Store, snapshots, want map[datastore.Revision][]string) {
	t.Helper()
	if len(snapshots) < 3 {
		t.Logf("only %d distinct snapshots were taken during the writes", len(snapshots))
	}
	for rev, during := range snapshots {
		after, err := readAll(context.Background(), s, rev)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(during, after) {
			t.Fatalf("read at revision %d changed after later commits:\nduring: %v\nafter:  %v", rev, during, after)
		}
		if rev > 0 && !slices.Equal(sortedCopy(during), want[rev]) {
			t.Fatalf("read at revision %d is not the state transactions 1..%d built:\ngot:  %v\nwant: %v", rev, rev, during, want[rev])
		}
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// readAll reads every relationship of the default tenant at rev.
func readAll(ctx context.Context, s *Store, rev datastore.Revision) ([]string, error) {
	out := []string{}
	for r, err := range s.SnapshotReader("default", rev).QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{}) {
		if err != nil {
			return nil, err
		}
		out = append(out, r.String())
	}
	return out, nil
}

// waitForLockWaiter waits until a session waits for a lock that the transaction tx
// holds. Counting any waiting session would also count other tests' writers, which run
// in parallel on the same database, and let tx commit before its own rival queued.
func waitForLockWaiter(ctx context.Context, s *Store, tx datastore.ReadWriteTx) error {
	holder := tx.(*pgTx).db.Conn().PgConn().PID()
	for {
		var waiting int
		err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))`, holder).Scan(&waiting)
		if err != nil {
			return err
		}
		if waiting > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestSerializationFailureIsRetried forces the case every SERIALIZABLE writer meets
// under contention: a transaction waits for the tenant's counter row while another
// holds it, the holder commits, and the waiter fails with a serialization failure
// (40001). The waiter must be retried and commit exactly once. At READ COMMITTED the
// same schedule needs no retry: the waiter simply reads the new counter.
func TestSerializationFailureIsRetried(t *testing.T) {
	t.Parallel()
	for _, serializable := range []bool{true, false} {
		t.Run(fmt.Sprintf("serializable=%v", serializable), func(t *testing.T) {
			t.Parallel()
			var retryErrs []error
			var mu sync.Mutex
			s, _ := newTestStore(t, Options{Serializable: serializable, OnRetry: func(err error) {
				mu.Lock()
				retryErrs = append(retryErrs, err)
				mu.Unlock()
			}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			holding := make(chan struct{})
			var secondCalls atomic.Int32
			var wg sync.WaitGroup
			var firstRev, secondRev datastore.Revision
			var firstErr, secondErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				firstRev, firstErr = s.ReadWriteTx(ctx, "default", datastore.TxMetadata{Principal: "first"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
					if err := tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpCreate, Relationship: tuple.MustParse("document:first#viewer@user:a")}}); err != nil {
						return err
					}
					select {
					case <-holding:
					default:
						close(holding)
					}
					// Hold the counter row until the second writer queues behind it.
					return waitForLockWaiter(ctx, s, tx)
				})
			}()
			go func() {
				defer wg.Done()
				<-holding
				secondRev, secondErr = s.ReadWriteTx(ctx, "default", datastore.TxMetadata{Principal: "second"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
					secondCalls.Add(1)
					return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpCreate, Relationship: tuple.MustParse("document:second#viewer@user:a")}})
				})
			}()
			wg.Wait()
			if firstErr != nil || secondErr != nil {
				t.Fatalf("writers failed: %v / %v", firstErr, secondErr)
			}
			if firstRev != 1 || secondRev != 2 {
				t.Fatalf("revisions %d, %d; want 1, 2", firstRev, secondRev)
			}
			mu.Lock()
			defer mu.Unlock()
			if serializable {
				if len(retryErrs) == 0 || s.Retries() == 0 {
					t.Fatal("no serialization failure was retried")
				}
				var pgErr *pgconn.PgError
				if !errors.As(retryErrs[0], &pgErr) || pgErr.Code != "40001" {
					t.Fatalf("retry cause = %v, want SQLSTATE 40001", retryErrs[0])
				}
				if secondCalls.Load() < 1 {
					t.Fatal("the second writer's function never ran")
				}
			} else if len(retryErrs) != 0 {
				t.Fatalf("READ COMMITTED needed %d retries: %v", len(retryErrs), retryErrs)
			}
			assertCommittedOnce(t, s, map[string]int{"document:first#viewer@user:a": 1, "document:second#viewer@user:a": 1}, 2)
		})
	}
}

// TestContentionCommitsEachWriteOnce runs many SERIALIZABLE writers against one tenant
// so serialization failures happen throughout, and checks that the retries commit
// every write exactly once.
func TestContentionCommitsEachWriteOnce(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{Serializable: true, MaxConns: 12})
	ctx := context.Background()
	const writers, perWriter = 10, 12
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var fnCalls atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				_, err := s.ReadWriteTx(ctx, "default", datastore.TxMetadata{Principal: fmt.Sprintf("w%d", w)}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
					fnCalls.Add(1)
					// Read-then-write on shared data as well as the counter.
					for _, err := range tx.Snapshot().QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"shared"}}, datastore.QueryOptions{Limit: 1}) {
						if err != nil {
							return err
						}
					}
					return tx.WriteRelationships(ctx, []datastore.Update{
						{Op: datastore.OpCreate, Relationship: tuple.MustParse(fmt.Sprintf("document:w%d_%d#viewer@user:a", w, i))},
						{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:shared#viewer@user:w%d", w))},
					})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.Retries() == 0 {
		t.Fatal("no serialization failure happened; the test did not exercise the retry path")
	}
	t.Logf("%d transactions, %d function calls, %d retries", writers*perWriter, fnCalls.Load(), s.Retries())
	want := map[string]int{}
	for w := range writers {
		for i := range perWriter {
			want[fmt.Sprintf("document:w%d_%d#viewer@user:a", w, i)] = 1
		}
	}
	assertCommittedOnce(t, s, want, writers*perWriter)
}

// assertCommittedOnce checks that the log holds exactly txCount transactions with
// revisions 1..txCount and that each relationship in created was created by exactly
// the given number of them.
func assertCommittedOnce(t *testing.T, s *Store, created map[string]int, txCount int) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]int{}
	var revs []datastore.Revision
	for tx, err := range s.ReadTransactions(ctx, "default", datastore.TransactionFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, tx.Revision)
		for _, c := range tx.Changes {
			if c.Kind == datastore.ChangeCreated {
				seen[c.Relationship.String()]++
			}
		}
	}
	if len(revs) != txCount {
		t.Fatalf("the log holds %d transactions, want %d", len(revs), txCount)
	}
	for i, r := range revs {
		if r != datastore.Revision(txCount-i) {
			t.Fatalf("log revisions are not %d..1: %v", txCount, revs)
		}
	}
	for rel, n := range created {
		if seen[rel] != n {
			t.Errorf("%s was created by %d transactions, want %d", rel, seen[rel], n)
		}
	}
	var stored int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM relationships WHERE tenant = 'default' AND resource_id <> 'shared'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != len(created) {
		t.Fatalf("%d relationship rows stored, want %d", stored, len(created))
	}
}

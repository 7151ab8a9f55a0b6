package cli

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/pemba-authz/pemba/internal/datastore/bolt"
	"github.com/pemba-authz/pemba/internal/write"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// importSize is how many relationships each import of the kill test sends: several
// of the server's import transactions.
const importSize = 3*write.DefaultImportBatchSize + 1234

// importRun is one import of the kill test.
type importRun struct {
	id    string
	acked bool
}

// importLog records imports, each of importSize relationships imp:<id>-<j>.
type importLog struct {
	mu   sync.Mutex
	runs []*importRun
}

// run imports until ctx ends; each import has its own id.
func (il *importLog) run(ctx context.Context, conn *grpc.ClientConn, prefix string, onErr func(error)) {
	for n := 0; ctx.Err() == nil; n++ {
		r := &importRun{id: fmt.Sprintf("%si%d", prefix, n)}
		il.mu.Lock()
		il.runs = append(il.runs, r)
		il.mu.Unlock()
		callCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := importOnce(callCtx, conn, r.id)
		cancel()
		if err != nil {
			onErr(err)
			return // a failed import's batches stay for verify to judge
		}
		il.mu.Lock()
		r.acked = true
		il.mu.Unlock()
	}
}

func importOnce(ctx context.Context, conn *grpc.ClientConn, id string) error {
	stream, err := pb.NewRelationshipServiceClient(conn).ImportRelationships(ctx)
	if err != nil {
		return err
	}
	msg := &pb.ImportRelationshipsRequest{Reason: "chaos import " + id}
	for j := range importSize {
		msg.Relationships = append(msg.Relationships, &pb.Relationship{
			Resource: &pb.ObjectReference{Type: "imp", Id: fmt.Sprintf("%s-%05d", id, j)},
			Relation: "member",
			Subject:  &pb.SubjectReference{Type: "user", Id: "x"},
		})
		if len(msg.Relationships) == 1000 || j == importSize-1 {
			if err := stream.Send(msg); err != nil {
				_, err = stream.CloseAndRecv() // the server's error
				return err
			}
			msg = &pb.ImportRelationshipsRequest{}
		}
	}
	res, err := stream.CloseAndRecv()
	if err == nil && res.GetCount() != importSize {
		err = fmt.Errorf("import %s: %d relationships acknowledged, want %d", id, res.GetCount(), importSize)
	}
	return err
}

// verify checks the imported relationships: each import holds a prefix of its
// relationships made of whole import transactions, all of them once acknowledged.
func (il *importLog) verify(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	present := readNumbered(t, conn, "imp")
	il.mu.Lock()
	defer il.mu.Unlock()
	for _, r := range il.runs {
		got := present[r.id]
		delete(present, r.id)
		n := len(got)
		for j := range n {
			if got[j] != 1 {
				t.Errorf("import %s: %d relationships present but not the first %d: not a prefix", r.id, n, n)
				break
			}
		}
		switch {
		case r.acked && n != importSize:
			t.Errorf("import %s was acknowledged but %d of its %d relationships are present", r.id, n, importSize)
		case n != importSize && n%write.DefaultImportBatchSize != 0:
			t.Errorf("import %s: %d relationships present, not whole transactions of %d: a transaction was partly applied", r.id, n, write.DefaultImportBatchSize)
		}
	}
	for id := range present {
		t.Errorf("relationships of import %s, which never ran", id)
	}
}

// TestKilledServerKeepsAcknowledgedWrites runs the real server on the embedded store
// with garbage collection every 20ms, drives writers and an import through gRPC, and
// kills the server with SIGKILL at a random moment, three times over the same
// directory. After each restart every acknowledged write is there, no transaction is
// partly applied (neither a write nor an import batch), and the file passes the
// consistency check at the end.
func TestKilledServerKeepsAcknowledgedWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--datastore-path", dir, "--gc-interval", "20ms", "--gc-window", "50ms", "--log-level", "debug"}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	l := newLedger(nil, 20)
	imports := &importLog{}
	collected := false
	for round := range 3 {
		p := startServe(t, nil, args...)
		conn := dialProc(t, p.grpcAddr)
		if round == 0 {
			writeLedgerSchema(t, conn)
		} else {
			l.verify(t, conn)
			imports.verify(t, conn)
		}
		l.conn = conn
		killed := loadUntilKilled(t, p, conn, l, imports, fmt.Sprintf("r%d", round), 300*time.Millisecond+time.Duration(rng.IntN(1200))*time.Millisecond)
		collected = collected || gcRemovedSomething(p)
		t.Logf("round %d: killed after %s with %d transactions acknowledged in all", round, killed, l.ackedCount())
	}
	p := startServe(t, nil, args...)
	conn := dialProc(t, p.grpcAddr)
	prefixes := l.verify(t, conn)
	imports.verify(t, conn)
	stopProc(t, p)
	if _, err := bolt.CheckFile(filepath.Join(dir, bolt.FileName)); err != nil {
		t.Fatalf("after the crashes the datastore fails the check: %v", err)
	}
	t.Logf("prefixes held: %v; %d imports", prefixes, len(imports.runs))
	if !collected {
		t.Error("no garbage collection removed anything while the servers were loaded: the kills did not meet collection at work")
	}
}

// loadUntilKilled drives three writers and an importer against the server for
// about d (at least until some writes are acknowledged), then kills the server with
// SIGKILL and returns when the load has stopped.
func loadUntilKilled(t *testing.T, p *proc, conn *grpc.ClientConn, l *ledger, imports *importLog, prefix string, d time.Duration) time.Duration {
	t.Helper()
	var killed atomic.Bool
	unexpected := func(err error) {
		if !killed.Load() {
			t.Errorf("before the kill: %v", err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	wg := l.runWriters(ctx, prefix, 3, failures(unexpected))
	wg.Add(1)
	go func() {
		defer wg.Done()
		imports.run(ctx, conn, prefix, unexpected)
	}()
	start := time.Now()
	base := l.ackedCount()
	for time.Since(start) < d || l.ackedCount() < base+10 {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("only %d writes acknowledged in 30s", l.ackedCount()-base)
		}
		time.Sleep(5 * time.Millisecond)
	}
	killed.Store(true)
	killProc(t, p)
	stop()
	wg.Wait()
	return time.Since(start)
}

// gcRemovedSomething reports whether the server's log shows a collection that
// removed relationship versions.
func gcRemovedSomething(p *proc) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range p.lines {
		if n, ok := line["relationships"].(float64); ok && line["msg"] == "garbage collection" && n > 0 {
			return true
		}
	}
	return false
}

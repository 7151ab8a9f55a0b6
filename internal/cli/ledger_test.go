package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// The backup and chaos tests write through the API in numbered transactions whose
// effects are known exactly, so that after a backup, a crash, an outage or a full
// disk every answer can be compared with what was acknowledged.
//
// Transaction i of writer w touches perTx members of batch:w-i and deletes those of
// batch:w-(i-2), so every commit also leaves garbage for collection and every
// transaction both adds and removes. A writer sends transaction i+1 only after i was
// acknowledged and retries a failed one until it is (touch and delete are
// idempotent), so the transactions a store holds are always a prefix 1..P of the
// writer's: P is the last acknowledged one, or the one after it when its outcome was
// not known. At revision P exactly batches P-1 and P are present, each complete.

// ledgerSchema is the schema of the ledger's relationships; definition
// imp holds the relationships the chaos tests import.
const ledgerSchema = `definition user {}
definition batch {
	relation member: user
	permission has = member
}
definition imp {
	relation member: user
}`

// ackedTx is an acknowledged transaction.
type ackedTx struct {
	n     int
	token string
}

// writerLog is what one writer did.
type writerLog struct {
	name  string
	acked []ackedTx
	// unknown is set while a transaction was sent and not acknowledged: it failed,
	// or it was in flight when the test stopped looking.
	unknown bool
}

// ledger records the numbered transactions of many writers.
type ledger struct {
	conn  *grpc.ClientConn
	perTx int

	mu      sync.Mutex
	writers map[string]*writerLog
	// failures counts failed writes by code.
	failures map[codes.Code]int
}

func newLedger(conn *grpc.ClientConn, perTx int) *ledger {
	return &ledger{conn: conn, perTx: perTx, writers: map[string]*writerLog{}, failures: map[codes.Code]int{}}
}

// dialProc connects to a running server without a key (its anonymous admin).
func dialProc(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func writeLedgerSchema(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	if _, err := pb.NewSchemaServiceClient(conn).WriteSchema(context.Background(), &pb.WriteSchemaRequest{Schema: ledgerSchema}); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
}

func batchID(writer string, n int) string { return fmt.Sprintf("%s-%06d", writer, n) }

func member(writer string, n, k int) *pb.Relationship {
	return &pb.Relationship{
		Resource: &pb.ObjectReference{Type: "batch", Id: batchID(writer, n)},
		Relation: "member",
		Subject:  &pb.SubjectReference{Type: "user", Id: fmt.Sprintf("m%d", k)},
	}
}

// writer returns the log of a writer, creating it.
func (l *ledger) writer(name string) *writerLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writers[name]
	if w == nil {
		w = &writerLog{name: name}
		l.writers[name] = w
	}
	return w
}

// write sends the writer's next transaction once and records the outcome: the next
// number after the acknowledged ones, so a failed transaction is sent again.
func (l *ledger) write(ctx context.Context, name string) error {
	w := l.writer(name)
	l.mu.Lock()
	n := len(w.acked) + 1
	w.unknown = true
	l.mu.Unlock()
	req := &pb.WriteRelationshipsRequest{Reason: "ledger " + batchID(name, n)}
	for k := range l.perTx {
		req.Updates = append(req.Updates, &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: member(name, n, k)})
		if n > 2 {
			req.Updates = append(req.Updates, &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_DELETE, Relationship: member(name, n-2, k)})
		}
	}
	resp, err := pb.NewRelationshipServiceClient(l.conn).WriteRelationships(ctx, req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failures[status.Code(err)]++
		return err
	}
	w.acked = append(w.acked, ackedTx{n: n, token: resp.GetToken()})
	w.unknown = false
	return nil
}

// run writes the writer's transactions until ctx ends, pausing briefly after a
// failure. observe, when set, sees every call: when it started and its error (nil
// for an acknowledged one).
func (l *ledger) run(ctx context.Context, name string, observe func(start time.Time, err error)) {
	for ctx.Err() == nil {
		// Each call has its own deadline, so a write cut off by the test's end is
		// told apart from one the server failed.
		start := time.Now()
		callCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := l.write(callCtx, name)
		cancel()
		if observe != nil {
			observe(start, err)
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// failures returns an observer for run that reports every failed call to onErr.
func failures(onErr func(error)) func(time.Time, error) {
	return func(_ time.Time, err error) {
		if err != nil {
			onErr(err)
		}
	}
}

// waitAcked waits until the ledger holds n acknowledged transactions in all.
func (l *ledger) waitAcked(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); l.ackedCount() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in 30s", l.ackedCount())
		}
	}
}

// runWriters runs n writers named prefix+"w"+k (run) until ctx ends; wait for the
// returned group once it has.
func (l *ledger) runWriters(ctx context.Context, prefix string, n int, observe func(time.Time, error)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(ctx, fmt.Sprintf("%sw%d", prefix, k), observe)
		}()
	}
	return &wg
}

// snapshot copies every writer's log.
func (l *ledger) snapshot() map[string]writerLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]writerLog, len(l.writers))
	for name, w := range l.writers {
		c := *w
		c.acked = append([]ackedTx(nil), w.acked...)
		out[name] = c
	}
	return out
}

// ackedCount is how many transactions were acknowledged in all.
func (l *ledger) ackedCount() int {
	n := 0
	for _, w := range l.snapshot() {
		n += len(w.acked)
	}
	return n
}

// readBatches reads every batch relationship at the head: writer → transaction
// number → members present.
func readBatches(t *testing.T, conn *grpc.ClientConn) map[string]map[int]int {
	t.Helper()
	return readNumbered(t, conn, "batch")
}

// readNumbered reads every relationship of a resource type at the head, whose ids
// are PREFIX-NUMBER, and counts them: prefix → number → relationships.
func readNumbered(t *testing.T, conn *grpc.ClientConn, resourceType string) map[string]map[int]int {
	t.Helper()
	stream, err := pb.NewRelationshipServiceClient(conn).ExportRelationships(context.Background(), &pb.ExportRelationshipsRequest{
		Filter:      &pb.RelationshipFilter{ResourceType: resourceType},
		Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[int]int{}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading the %s relationships: %v", resourceType, err)
		}
		for _, r := range msg.GetRelationships() {
			id := r.GetResource().GetId()
			i := strings.LastIndexByte(id, '-')
			n, err := strconv.Atoi(id[i+1:])
			if i < 0 || err != nil {
				t.Fatalf("unexpected %s id %s", resourceType, id)
			}
			if out[id[:i]] == nil {
				out[id[:i]] = map[int]int{}
			}
			out[id[:i]][n]++
		}
	}
}

// verify checks that the store at conn holds, for every writer, a prefix of its
// transactions that includes every acknowledged one and at most the one after it,
// each transaction whole. It returns each writer's prefix length.
func (l *ledger) verify(t *testing.T, conn *grpc.ClientConn) map[string]int {
	t.Helper()
	return l.verifyAgainst(t, conn, l.snapshot())
}

// verifyAgainst is verify against writer logs taken earlier (what was acknowledged
// before a backup began): the prefix must include every transaction they list as
// acknowledged and may go beyond.
func (l *ledger) verifyAgainst(t *testing.T, conn *grpc.ClientConn, logs map[string]writerLog) map[string]int {
	t.Helper()
	present := readBatches(t, conn)
	current := l.snapshot()
	prefixes := map[string]int{}
	for name, w := range logs {
		got := present[name]
		delete(present, name)
		// The prefix is the newest batch present; everything follows from it.
		p := 0
		for n := range got {
			p = max(p, n)
		}
		for n, members := range got {
			if n < p-1 {
				t.Errorf("writer %s: batch %d is present at prefix %d, but transaction %d deleted it: a transaction was partly applied or lost", name, n, p, n+2)
			}
			if members != l.perTx {
				t.Errorf("writer %s: batch %d has %d of its %d members: a transaction is partly visible", name, n, members, l.perTx)
			}
		}
		if p > 1 && got[p-1] == 0 {
			t.Errorf("writer %s: batch %d is present without batch %d", name, p, p-1)
		}
		if p < len(w.acked) {
			t.Errorf("writer %s: %d transactions were acknowledged but the store holds only %d: an acknowledged write is lost", name, len(w.acked), p)
		}
		limit := len(current[name].acked)
		if current[name].unknown {
			limit++
		}
		if p > limit {
			t.Errorf("writer %s: the store holds %d transactions, but only %d were ever sent", name, p, limit)
		}
		prefixes[name] = p
	}
	for name := range present {
		if _, ok := current[name]; !ok {
			t.Errorf("batches of writer %s, which never wrote", name)
		}
	}
	return prefixes
}

// checkAt checks, with Check at exactly the revision of an acknowledged transaction,
// what that revision must hold: batch n and n-1 complete, n-2 and n+1 absent. It
// returns the first failed call's error, or a test failure for a wrong answer.
func (l *ledger) checkAt(t *testing.T, ctx context.Context, conn *grpc.ClientConn, writer string, tx ackedTx, k int) error {
	t.Helper()
	at := &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: tx.token}}
	want := map[int]pb.Permissionship{
		tx.n:     pb.Permissionship_PERMISSIONSHIP_ALLOWED,
		tx.n - 1: pb.Permissionship_PERMISSIONSHIP_ALLOWED,
		tx.n - 2: pb.Permissionship_PERMISSIONSHIP_DENIED,
		tx.n + 1: pb.Permissionship_PERMISSIONSHIP_DENIED,
	}
	for n, perm := range want {
		if n < 1 {
			continue
		}
		m := member(writer, n, k%l.perTx)
		resp, err := pb.NewPermissionServiceClient(conn).Check(ctx, &pb.CheckRequest{Consistency: at, Resource: m.Resource, Permission: "has", Subject: m.Subject})
		if err != nil {
			return err
		}
		if resp.GetPermissionship() != perm {
			t.Errorf("wrong answer: at the revision of %s's transaction %d, batch %d member m%d is %v, want %v", writer, tx.n, n, k%l.perTx, resp.GetPermissionship(), perm)
		}
	}
	return nil
}

// headToken is the token of the default tenant's head revision.
func headToken(t *testing.T, conn *grpc.ClientConn) string {
	t.Helper()
	m := member("none", 1, 0)
	resp, err := pb.NewPermissionServiceClient(conn).Check(context.Background(), &pb.CheckRequest{
		Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
		Resource:    m.Resource, Permission: "has", Subject: m.Subject,
	})
	if err != nil {
		t.Fatalf("reading the head: %v", err)
	}
	return resp.GetToken()
}

// killProc kills a server with SIGKILL and waits for it to be gone.
func killProc(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the killed server did not exit")
	}
}

// stopProc stops a server with SIGTERM and fails unless it exits cleanly.
func stopProc(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("the server exited with %v:\n%s", err, p.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not stop after SIGTERM:\n%s", p.log())
	}
}

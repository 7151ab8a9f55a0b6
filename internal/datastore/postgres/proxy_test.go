package postgres

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// cutProxy is a TCP proxy in front of the database that can drop every connection and
// refuse new ones on demand, then accept again: a database that goes away and returns.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	// cutOn, when set, makes the proxy cut everything right after forwarding a
	// client message containing it, and drop whatever the server answers to it.
	cutOn   []byte
	swallow bool
}

func startProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn, fromClient bool) {
			defer p.wg.Done()
			defer dst.Close()
			defer src.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					p.mu.Lock()
					trigger := fromClient && p.cutOn != nil && bytes.Contains(buf[:n], p.cutOn)
					if trigger {
						p.swallow, p.cutOn = true, nil
					}
					drop := !fromClient && p.swallow
					p.mu.Unlock()
					if !drop {
						if _, err := dst.Write(buf[:n]); err != nil {
							return
						}
					}
					if trigger {
						p.cut()
						return
					}
				}
				if err != nil {
					return
				}
			}
		}
		go pipe(up, c, true)
		go pipe(c, up, false)
	}
}

// cut drops every connection and refuses new ones until restore.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down, p.swallow = false, false
	p.mu.Unlock()
}

// cutAfter arms the proxy to cut every connection once a client sends msg.
func (p *cutProxy) cutAfter(msg []byte) {
	p.mu.Lock()
	p.cutOn = msg
	p.mu.Unlock()
}

// viaProxy rewrites a URL-form URI to connect through addr.
func viaProxy(t *testing.T, uri, addr string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		t.Skip("the connection-loss test needs PEMBA_TEST_POSTGRES_URI in URL form")
	}
	u.Host = addr
	return u.String()
}

// storeBehindProxy opens a store on a fresh migrated schema whose connections all go
// through a TCP proxy the test can cut, and returns the schema's direct URI too; the
// store is closed when the test ends.
func storeBehindProxy(t *testing.T) (*Store, *cutProxy, string) {
	t.Helper()
	uri := freshSchema(t)
	ctx := context.Background()
	if err := Migrate(ctx, uri, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(uri)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	s, err := New(ctx, withParam(viaProxy(t, uri, proxy.addr()), "connect_timeout", "2"), Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, proxy, uri
}

func TestConnectionLossIsUnavailableAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, proxy, _ := storeBehindProxy(t)
	r1 := write(t, s, "default", datastore.OpTouch, "document:a#viewer@user:x")

	proxy.cut()
	ops := map[string]func(ctx context.Context) error{
		"head": func(ctx context.Context) error { _, err := s.HeadRevision(ctx, "default"); return err },
		"read": func(ctx context.Context) error {
			for _, err := range s.SnapshotReader("default", r1).QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, datastore.QueryOptions{}) {
				if err != nil {
					return err
				}
			}
			return nil
		},
		"write": func(context.Context) error {
			_, err := tryWrite(s, "default", datastore.OpTouch, "document:b#viewer@user:x")
			return err
		},
		"check": func(ctx context.Context) error { return s.CheckRevision(ctx, "default", r1) },
	}
	for name, op := range ops {
		opCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		start := time.Now()
		err := op(opCtx)
		cancel()
		t.Logf("%s while the database is unreachable: %v", name, err)
		if !errors.Is(err, datastore.ErrUnavailable) {
			t.Errorf("%s while the database is unreachable: got %v, want an error wrapping ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v to fail; it should fail fast", name, d)
		}
	}

	proxy.restore()
	// The very first request after the database returns succeeds: a pooled connection
	// that broke while it was away costs one quiet retry, not an error.
	if err := ops["head"](ctx); err != nil {
		t.Fatalf("the first request after the database returned failed: %v", err)
	}

	// The same when the database goes and returns between two requests, leaving
	// every pooled connection broken but none yet found out.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ops["read"](ctx)
		}()
	}
	wg.Wait()
	proxy.cut()
	proxy.restore()
	if err := ops["read"](ctx); err != nil {
		t.Fatalf("the first request after a blip failed: %v", err)
	}
	for name, op := range ops {
		if err := op(ctx); err != nil {
			t.Errorf("%s after recovery: %v", name, err)
		}
	}
	got := strs(t, s.SnapshotReader("default", r1).QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, datastore.QueryOptions{}))
	if len(got) != 1 || got[0] != "document:a#viewer@user:x" {
		t.Fatalf("data at r1 after recovery: %v", got)
	}
}

func TestConnectionLossMidTransactionAppliesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, proxy, uri := storeBehindProxy(t)
	head := write(t, s, "default", datastore.OpTouch, "document:a#viewer@user:x")
	_, err := s.ReadWriteTx(ctx, "default", datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpTouch, Relationship: tuple.MustParse("document:b#viewer@user:x")}}); err != nil {
			return err
		}
		proxy.cut()
		return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpCreate, Relationship: tuple.MustParse("document:c#viewer@user:x")}})
	})
	if !errors.Is(err, datastore.ErrUnavailable) {
		t.Fatalf("transaction cut mid-way: got %v, want ErrUnavailable", err)
	}
	proxy.restore()
	direct, err := New(ctx, uri, Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if h, err := direct.HeadRevision(ctx, "default"); err != nil || h != head {
		t.Fatalf("head after the cut transaction = %d, %v; want %d (nothing committed)", h, err, head)
	}
	var n int
	if err := direct.Pool().QueryRow(ctx, `SELECT count(*) FROM relationships`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("relationships stored: %d, %v; want 1", n, err)
	}
}

// TestConnectionLossDuringCommitIsNotRetried cuts the connection right after COMMIT
// reaches the database and before its answer comes back. The write's outcome is then
// unknown to Pemba: it must say so (ErrUnavailable, "may or may not have been
// applied") and must not run the transaction again, or a committed write would be
// applied twice.
func TestConnectionLossDuringCommitIsNotRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, proxy, _ := storeBehindProxy(t)
	calls := 0
	proxy.cutAfter([]byte("commit\x00"))
	_, err := s.ReadWriteTx(ctx, "default", datastore.TxMetadata{Principal: "p"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		calls++
		return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpTouch, Relationship: tuple.MustParse("document:a#viewer@user:x")}})
	})
	if !errors.Is(err, datastore.ErrUnavailable) || !errors.Is(err, errAmbiguousCommit) {
		t.Fatalf("commit cut off: got %v, want ErrUnavailable saying the outcome is unknown", err)
	}
	if calls != 1 {
		t.Fatalf("the transaction ran %d times; a commit with an unknown outcome must not be retried", calls)
	}
	proxy.restore()
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM transactions WHERE tenant = 'default'`).Scan(&n); err != nil || n > 1 {
		t.Fatalf("the log holds %d transactions (%v); at most the one write", n, err)
	}
	t.Logf("the cut commit was applied: %v", n == 1)
}

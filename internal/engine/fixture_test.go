package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// clock is a settable clock shared by the store and the engine under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a memory store with a schema and relationships, and an engine over it.
type fixture struct {
	t     testing.TB
	ds    *memory.Store
	e     *Engine
	clock *clock
	rev   datastore.Revision
}

func newFixture(t testing.TB, schemaText string, rels ...string) *fixture {
	return newFixtureConfig(t, Config{}, schemaText, rels...)
}

func newFixtureConfig(t testing.TB, cfg Config, schemaText string, rels ...string) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	ds := memory.New(datastore.Options{Now: clk.Now})
	t.Cleanup(func() { ds.Close() })
	if _, err := schema.Compile("test.zed", schemaText); err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	if cfg.ParallelReadLatency == 0 {
		// The memory store is fast enough that the engine would run everything
		// inline; tests fan out so the concurrent paths are exercised.
		cfg.ParallelReadLatency = -1
	}
	f := &fixture{t: t, ds: ds, e: New(ds, cfg), clock: clk}
	rev, err := ds.ReadWriteTx(context.Background(), tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteSchema(ctx, schemaText)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.rev = rev
	if len(rels) > 0 {
		f.touch(rels...)
	}
	return f
}

// touch writes relationships (text form) and moves the fixture to the new revision.
func (f *fixture) touch(rels ...string) datastore.Revision {
	f.t.Helper()
	return f.write(datastore.OpTouch, rels...)
}

func (f *fixture) delete(rels ...string) datastore.Revision {
	f.t.Helper()
	return f.write(datastore.OpDelete, rels...)
}

func (f *fixture) write(op datastore.Operation, rels ...string) datastore.Revision {
	f.t.Helper()
	var ups []datastore.Update
	for _, line := range rels {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ups = append(ups, datastore.Update{Op: op, Relationship: tuple.MustParse(line)})
	}
	rev, err := f.ds.ReadWriteTx(context.Background(), tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, ups)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.rev = rev
	return rev
}

// parseCheck reads "type:id#permission@subject".
func parseCheck(t testing.TB, s string) (tuple.ObjectRef, string, tuple.SubjectRef) {
	t.Helper()
	rel, err := tuple.Parse(s)
	if err != nil {
		t.Fatalf("bad check %q: %v", s, err)
	}
	return rel.Resource, rel.Relation, rel.Subject
}

func parseContext(t testing.TB, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad context %q: %v", s, err)
	}
	return m
}

func (f *fixture) req(check string, ctxJSON string) CheckRequest {
	res, perm, subj := parseCheck(f.t, check)
	return CheckRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: res, Permission: perm, Subject: subj, Context: parseContext(f.t, ctxJSON)}
}

// answer renders a check result as "allowed", "denied" or "conditional[a,b]".
func answer(r CheckResult) string {
	if r.Permissionship == Conditional {
		return fmt.Sprintf("conditional%v", r.MissingContext)
	}
	return r.Permissionship.String()
}

func (f *fixture) check(check string, ctxJSON string) string {
	f.t.Helper()
	r, err := f.e.Check(context.Background(), f.req(check, ctxJSON))
	if err != nil {
		f.t.Fatalf("check %s: %v", check, err)
	}
	return answer(r)
}

// newStore returns an empty memory store on a test clock with a quantisation window.
func newStore(t testing.TB, clk *clock, window time.Duration) *memory.Store {
	ds := memory.New(datastore.Options{Now: clk.Now, QuantizationWindow: window})
	t.Cleanup(func() { ds.Close() })
	return ds
}

package decisionlog

import (
	"context"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestShutdownWritesQueued checks that decisions queued when the process stops are
// written before Run returns, so a clean shutdown loses none.
func TestShutdownWritesQueued(t *testing.T) {
	store := memory.New(datastore.Options{})
	l, err := New(Config{Enabled: true, SampleRate: 1, DeniedSampleRate: 1, BatchSize: 7}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		l.Record(datastore.Decision{Tenant: tuple.DefaultTenant, Operation: "check", Resource: tuple.ObjectRef{Type: "document", ID: "d"},
			Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "ann"}, Result: "allowed", Results: i})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the process is already stopping when the writer starts
	l.Run(ctx)
	n := 0
	for _, err := range store.ReadDecisions(context.Background(), datastore.DecisionFilter{Tenants: []string{tuple.DefaultTenant}}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 100 {
		t.Fatalf("%d decisions written at shutdown, want 100", n)
	}
}

// TestWants checks the filters and the two sampling rates.
func TestWants(t *testing.T) {
	l, err := New(Config{SampleRate: 0, DeniedSampleRate: 1, Tenants: []string{"acme"}, Results: []string{"allowed", "denied"}}, memory.New(datastore.Options{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		tenant, result string
		want           bool
	}{
		{"acme", "denied", true},
		{"acme", "allowed", false}, // sampled at 0
		{"other", "denied", false}, // another tenant
		{"acme", "conditional", false},
	}
	for _, c := range cases {
		if got := l.Wants(c.tenant, "document", "view", c.result); got != c.want {
			t.Errorf("Wants(%s, %s) = %v, want %v", c.tenant, c.result, got, c.want)
		}
	}
	if _, err := New(Config{DeniedSampleRate: -0.5}, memory.New(datastore.Options{}), nil); err == nil {
		t.Error("a negative denied sample rate was accepted")
	}
}

package datastore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHeads is a Quantizer's clock and head source, both set by the test.
type fakeHeads struct {
	now   time.Time
	heads map[string]Revision
	err   error
	calls int
}

func (f *fakeHeads) quantizer(window time.Duration) *Quantizer {
	return &Quantizer{Window: window, Now: func() time.Time { return f.now }, Head: f.head}
}

func (f *fakeHeads) head(_ context.Context, tenant string) (Revision, error) {
	f.calls++
	if f.err != nil {
		return 0, f.err
	}
	return f.heads[tenant], nil
}

func TestQuantizerRevision(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	f := &fakeHeads{now: start, heads: map[string]Revision{"acme": 10, "globex": 3}}
	q := f.quantizer(5 * time.Second)
	steps := []struct {
		name   string
		at     time.Duration // since start
		tenant string
		head   Revision // the tenant's head from this step on
		want   Revision
		calls  int // head lookups so far
	}{
		{"first read asks for the head", 0, "acme", 10, 10, 1},
		{"within the window the old revision is shared", 4 * time.Second, "acme", 12, 10, 1},
		{"each tenant has its own", 4 * time.Second, "globex", 3, 3, 2},
		{"at the end of the window the head is asked again", 5 * time.Second, "acme", 12, 12, 3},
		{"a clock that went back asks again", 2 * time.Second, "acme", 13, 13, 4},
		{"the renewed entry is shared again", 3 * time.Second, "acme", 14, 13, 4},
	}
	for _, s := range steps {
		f.now = start.Add(s.at)
		f.heads[s.tenant] = s.head
		got, err := q.Revision(ctx, s.tenant)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want || f.calls != s.calls {
			t.Fatalf("%s: revision %d after %d head lookups, want %d after %d", s.name, got, f.calls, s.want, s.calls)
		}
	}
}

func TestQuantizerDoesNotRememberErrors(t *testing.T) {
	ctx := context.Background()
	f := &fakeHeads{now: time.Unix(1000, 0), heads: map[string]Revision{"acme": 4}, err: ErrUnavailable}
	q := f.quantizer(time.Minute)
	if _, err := q.Revision(ctx, "acme"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Revision returned %v, want the head's error", err)
	}
	f.err = nil
	if got, err := q.Revision(ctx, "acme"); err != nil || got != 4 {
		t.Fatalf("after the error cleared: %d, %v; want 4", got, err)
	}
}

func TestQuantizerForget(t *testing.T) {
	ctx := context.Background()
	f := &fakeHeads{now: time.Unix(1000, 0), heads: map[string]Revision{"acme": 9}}
	q := f.quantizer(time.Minute)
	q.Forget("never-seen") // forgetting an unknown tenant is harmless
	if _, err := q.Revision(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	f.heads["acme"] = 0 // the tenant was deleted and re-created
	q.Forget("acme")
	if got, _ := q.Revision(ctx, "acme"); got != 0 {
		t.Fatalf("after Forget the revision is %d, want the new head 0", got)
	}
}

// TestQuantizerKeepsTheNewerRevision: a caller whose head lookup was overtaken by
// another's does not replace the newer remembered revision with its older one.
func TestQuantizerKeepsTheNewerRevision(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	var calls atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	q := &Quantizer{Window: time.Minute, Now: func() time.Time { return now }, Head: func(context.Context, string) (Revision, error) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release // the slow caller learns revision 6 after the fast one learnt 7
			return 6, nil
		}
		return 7, nil
	}}
	slow := make(chan Revision)
	go func() {
		rev, _ := q.Revision(ctx, "acme")
		slow <- rev
	}()
	<-entered
	if got, _ := q.Revision(ctx, "acme"); got != 7 {
		t.Fatalf("the fast caller got %d, want 7", got)
	}
	close(release)
	if got := <-slow; got != 6 {
		t.Fatalf("the slow caller got %d, want its own answer 6", got)
	}
	if got, _ := q.Revision(ctx, "acme"); got != 7 || calls.Load() != 2 {
		t.Fatalf("afterwards the quantizer answers %d after %d head lookups, want the remembered 7 after 2", got, calls.Load())
	}
}

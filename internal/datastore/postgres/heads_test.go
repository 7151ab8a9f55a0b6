package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// TestHeadReadsAreShared holds the first head query open until every other caller
// has queued, and expects exactly one more query for all of them.
func TestHeadReadsAreShared(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	rev := write(t, s, "default", datastore.OpCreate, "document:a#viewer@user:x")

	const callers = 32
	var queries, joined atomic.Int64
	release := make(chan struct{})
	allJoined := make(chan struct{})
	s.headReads.beforeRead = func() {
		if queries.Add(1) == 1 {
			<-release
		}
	}
	s.headReads.joined = func() {
		if joined.Add(1) == callers-1 {
			close(allJoined)
		}
	}

	ctx := context.Background()
	heads := make(chan datastore.Revision, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			h, err := s.HeadRevision(ctx, "default")
			if err != nil {
				errs <- err
				return
			}
			heads <- h
		})
	}
	select {
	case <-allJoined:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d callers queued behind the first head read", joined.Load(), callers-1)
	}
	close(release)
	wg.Wait()
	close(heads)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for h := range heads {
		if h != rev {
			t.Errorf("head %d, want %d", h, rev)
		}
	}
	if n := queries.Load(); n != 2 {
		t.Errorf("%d callers ran %d head queries, want 2 (the first, then one for everyone who queued)", callers, n)
	}
}

// TestSharedHeadIncludesEveryAcknowledgedWrite runs writers and fully consistent
// readers together: a head read that began after a write was acknowledged must
// include it, however the reads are shared.
func TestSharedHeadIncludesEveryAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{MaxConns: 10})
	write(t, s, "default", datastore.OpCreate, "document:seed#viewer@user:x")
	ctx := context.Background()

	var acked atomic.Int64 // highest revision acknowledged to a writer
	stop := make(chan struct{})
	errs := make(chan error, 16)
	var writers, readers sync.WaitGroup
	for w := range 2 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rev, err := tryWrite(s, "default", datastore.OpTouch, fmt.Sprintf("document:w%d_%d#viewer@user:x", w, i))
				if err != nil {
					errs <- err
					return
				}
				for old := acked.Load(); int64(rev) > old && !acked.CompareAndSwap(old, int64(rev)); old = acked.Load() {
				}
			}
		})
	}
	var reads atomic.Int64
	for range 8 {
		readers.Go(func() {
			for range 60 {
				before := acked.Load()
				head, err := s.HeadRevision(ctx, "default")
				if err != nil {
					errs <- err
					return
				}
				if int64(head) < before {
					errs <- fmt.Errorf("head %d misses revision %d, acknowledged before the call", head, before)
					return
				}
				reads.Add(1)
			}
		})
	}
	readers.Wait()
	close(stop)
	writers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads.Load() != 8*60 {
		t.Errorf("%d reads completed, want %d", reads.Load(), 8*60)
	}
}

// TestSharedHeadHonoursTheCallersContext: a caller whose context ends stops waiting,
// and the read it was waiting for still serves the others.
func TestSharedHeadHonoursTheCallersContext(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	rev := write(t, s, "default", datastore.OpCreate, "document:a#viewer@user:x")
	release := make(chan struct{})
	var first atomic.Bool
	s.headReads.beforeRead = func() {
		if first.CompareAndSwap(false, true) {
			<-release
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.HeadRevision(ctx, "default"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller past its deadline got %v, want context.DeadlineExceeded", err)
	}
	got := make(chan error, 1)
	go func() {
		h, err := s.HeadRevision(context.Background(), "default")
		if err == nil && h != rev {
			err = fmt.Errorf("head %d, want %d", h, rev)
		}
		got <- err
	}()
	close(release)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the next caller never got a head")
	}
}

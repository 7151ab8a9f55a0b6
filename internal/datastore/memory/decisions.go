package memory

import (
	"context"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// decisionLog is the memory store's decision log: a slice, read by filtering and
// sorting, which is what a store for tests and demos needs.
type decisionLog struct {
	mu   sync.Mutex
	seq  uint64
	rows []datastore.Decision
}

var _ datastore.DecisionStore = (*Store)(nil)

// WriteDecisions implements datastore.DecisionStore.
func (s *Store) WriteDecisions(_ context.Context, ds []datastore.Decision) error {
	l := &s.decisions
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range ds {
		l.seq++
		d.Seq = l.seq
		d.Path = slices.Clone(d.Path)
		l.rows = append(l.rows, d)
	}
	return nil
}

// ReadDecisions implements datastore.DecisionStore.
func (s *Store) ReadDecisions(_ context.Context, f datastore.DecisionFilter) iter.Seq2[datastore.Decision, error] {
	l := &s.decisions
	l.mu.Lock()
	var out []datastore.Decision
	for i := range l.rows {
		if f.Matches(&l.rows[i]) {
			out = append(out, l.rows[i])
		}
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b datastore.Decision) int {
		if datastore.NewerDecision(&a, &b) {
			return -1
		}
		if datastore.NewerDecision(&b, &a) {
			return 1
		}
		return 0
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return func(yield func(datastore.Decision, error) bool) {
		for _, d := range out {
			if !yield(d, nil) {
				return
			}
		}
	}
}

func (l *decisionLog) deleteTenant(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows = slices.DeleteFunc(l.rows, func(d datastore.Decision) bool { return d.Tenant == name })
}

// DeleteDecisionsBefore implements datastore.DecisionStore.
func (s *Store) DeleteDecisionsBefore(_ context.Context, t time.Time) (int, error) {
	l := &s.decisions
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.rows)
	l.rows = slices.DeleteFunc(l.rows, func(d datastore.Decision) bool { return d.Time.Before(t) })
	return n - len(l.rows), nil
}

package serve

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// The pending store forwards the decision log to the store once it is reached, so
// --decision-log works on a PostgreSQL server that starts before its database.
var _ datastore.DecisionStore = (*pendingStore)(nil)

func (p *pendingStore) decisionStore() (datastore.DecisionStore, error) {
	ds, err := p.get()
	if err != nil {
		return nil, err
	}
	d, ok := ds.(datastore.DecisionStore)
	if !ok {
		return nil, fmt.Errorf("this datastore (%T) cannot keep a decision log", ds)
	}
	return d, nil
}

// WriteDecisions implements datastore.DecisionStore.
func (p *pendingStore) WriteDecisions(ctx context.Context, ds []datastore.Decision) error {
	d, err := p.decisionStore()
	if err != nil {
		return err
	}
	return d.WriteDecisions(ctx, ds)
}

// ReadDecisions implements datastore.DecisionStore.
func (p *pendingStore) ReadDecisions(ctx context.Context, f datastore.DecisionFilter) iter.Seq2[datastore.Decision, error] {
	d, err := p.decisionStore()
	if err != nil {
		return failed[datastore.Decision](err)
	}
	return d.ReadDecisions(ctx, f)
}

// DeleteDecisionsBefore implements datastore.DecisionStore.
func (p *pendingStore) DeleteDecisionsBefore(ctx context.Context, t time.Time) (int, error) {
	d, err := p.decisionStore()
	if err != nil {
		return 0, err
	}
	return d.DeleteDecisionsBefore(ctx, t)
}

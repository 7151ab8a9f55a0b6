package serve

import (
	"context"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// The pending store forwards erasure and the retention per kind to the store once it
// is reached, like the decision log.
var (
	_ datastore.SubjectEraser    = (*pendingStore)(nil)
	_ datastore.RefusalRedactor  = (*pendingStore)(nil)
	_ datastore.DecisionRetainer = (*pendingStore)(nil)
)

// reachedAs returns the reached store as a T, or why it cannot be one.
func reachedAs[T any](p *pendingStore, what string) (T, error) {
	var zero T
	ds, err := p.get()
	if err != nil {
		return zero, err
	}
	v, ok := ds.(T)
	if !ok {
		return zero, fmt.Errorf("this datastore (%T) cannot %s", ds, what)
	}
	return v, nil
}

// PseudonymizeAudit implements datastore.SubjectEraser.
func (p *pendingStore) PseudonymizeAudit(ctx context.Context, tenant string, subject, pseudonym tuple.ObjectRef) (int, error) {
	e, err := reachedAs[datastore.SubjectEraser](p, "erase subjects")
	if err != nil {
		return 0, err
	}
	return e.PseudonymizeAudit(ctx, tenant, subject, pseudonym)
}

// DeleteSubjectDecisions implements datastore.SubjectEraser.
func (p *pendingStore) DeleteSubjectDecisions(ctx context.Context, tenant string, subject tuple.ObjectRef) (int, error) {
	e, err := reachedAs[datastore.SubjectEraser](p, "erase subjects")
	if err != nil {
		return 0, err
	}
	return e.DeleteSubjectDecisions(ctx, tenant, subject)
}

// RedactRefusalsBefore implements datastore.RefusalRedactor.
func (p *pendingStore) RedactRefusalsBefore(ctx context.Context, tenant string, before time.Time) (int, error) {
	r, err := reachedAs[datastore.RefusalRedactor](p, "apply a refusal retention")
	if err != nil {
		return 0, err
	}
	return r.RedactRefusalsBefore(ctx, tenant, before)
}

// DeleteDecisionsWithResultBefore implements datastore.DecisionRetainer.
func (p *pendingStore) DeleteDecisionsWithResultBefore(ctx context.Context, result string, t time.Time) (int, error) {
	r, err := reachedAs[datastore.DecisionRetainer](p, "apply a decision retention per result")
	if err != nil {
		return 0, err
	}
	return r.DeleteDecisionsWithResultBefore(ctx, result, t)
}

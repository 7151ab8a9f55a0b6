package memory

import (
	"context"
	"slices"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

var _ datastore.SubjectEraser = (*Store)(nil)

// PseudonymizeAudit implements datastore.SubjectEraser.
func (s *Store) PseudonymizeAudit(_ context.Context, name string, subject, pseudonym tuple.ObjectRef) (int, error) {
	return s.rewriteLog(name, func(tx *datastore.Transaction) (*datastore.Transaction, bool) {
		return datastore.PseudonymizeTransaction(tx, subject, pseudonym)
	})
}

// RedactRefusalsBefore implements datastore.RefusalRedactor.
func (s *Store) RedactRefusalsBefore(_ context.Context, name string, before time.Time) (int, error) {
	return s.rewriteLog(name, func(tx *datastore.Transaction) (*datastore.Transaction, bool) {
		return datastore.RedactRefusal(tx, before)
	})
}

// rewriteLog replaces the log by a copy with the transactions fn rewrites, so
// readers iterating the old one are undisturbed.
func (s *Store) rewriteLog(name string, fn func(*datastore.Transaction) (*datastore.Transaction, bool)) (int, error) {
	t, err := s.tenant(name)
	if err != nil {
		return 0, err
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	log := slices.Clone(t.log)
	for i, tx := range log {
		if out, ok := fn(tx); ok {
			log[i] = out
			n++
		}
	}
	t.log = log
	return n, nil
}

// DeleteSubjectDecisions implements datastore.SubjectEraser.
func (s *Store) DeleteSubjectDecisions(_ context.Context, tenant string, subject tuple.ObjectRef) (int, error) {
	l := &s.decisions
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.rows)
	l.rows = slices.DeleteFunc(l.rows, func(d datastore.Decision) bool { return d.Tenant == tenant && d.Subject.Object() == subject })
	return n - len(l.rows), nil
}

var _ datastore.DecisionRetainer = (*Store)(nil)

// DeleteDecisionsWithResultBefore implements datastore.DecisionRetainer.
func (s *Store) DeleteDecisionsWithResultBefore(_ context.Context, result string, t time.Time) (int, error) {
	l := &s.decisions
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.rows)
	l.rows = slices.DeleteFunc(l.rows, func(d datastore.Decision) bool { return d.Result == result && d.Time.Before(t) })
	return n - len(l.rows), nil
}

package memory

import (
	"context"
	"slices"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

var _ datastore.SubjectEraser = (*Store)(nil)

// PseudonymizeAudit implements datastore.SubjectEraser. The log is replaced by a
// rewritten copy, so readers iterating the old one are undisturbed.
func (s *Store) PseudonymizeAudit(_ context.Context, name string, subject, pseudonym tuple.ObjectRef) (int, error) {
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
		if out, ok := datastore.PseudonymizeTransaction(tx, subject, pseudonym); ok {
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

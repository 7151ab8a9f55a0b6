package requests

import (
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// NotFoundError is a request id the tenant does not have.
type NotFoundError struct {
	Tenant, ID string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("access request %q not found in tenant %q", e.ID, e.Tenant)
}

// Unwrap gives the error's kind.
func (e *NotFoundError) Unwrap() error { return datastore.ErrNotFound }

// NotPendingError is an operation on a request that is no longer pending: a replayed
// approval, a cancel after a denial, anything after expiry.
type NotPendingError struct {
	ID    string
	State State
	// By and At say who decided it and when (By is "" for an expiry).
	By string
	At time.Time
}

func (e *NotPendingError) Error() string {
	msg := fmt.Sprintf("access request %s is %s, not pending", e.ID, e.State)
	if e.By != "" {
		msg += " (by " + e.By + ")"
	}
	if !e.At.IsZero() {
		msg += " since " + e.At.UTC().Format(time.RFC3339)
	}
	return msg + "; only a pending request can be approved, denied or cancelled"
}

// Unwrap gives the error's kind.
func (e *NotPendingError) Unwrap() error { return datastore.ErrFailedPrecondition }

// NotPending returns the error for an operation on r, which is not pending at now.
func NotPending(r *AccessRequest, now time.Time) *NotPendingError {
	e := &NotPendingError{ID: r.ID, State: r.StateAt(now), At: r.DecidedAt}
	if r.DecidedBy != nil {
		e.By = r.DecidedBy.String()
	}
	if e.State == Expired && e.At.IsZero() {
		e.At = r.ExpiresAt
	}
	return e
}

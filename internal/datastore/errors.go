package datastore

import (
	"errors"
	"fmt"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// The kinds of failure. Every error the layers below the server return — stores,
// engine, write path, governance — matches (errors.Is) one of these at most, and the
// server maps each kind to its status code in one switch. Specific sentinels and
// error types below say which kind they are.
var (
	// ErrInvalidArgument: a request or a value breaks a rule. It is tuple.ErrInvalid,
	// so a bad name that package finds and a bad value a store finds are one kind.
	ErrInvalidArgument = tuple.ErrInvalid
	// ErrNotFound: something the request names does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: something the request creates exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrFailedPrecondition: the request is well formed but the state does not allow
	// it (no schema yet, a precondition that did not hold, a revision collected).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrPermissionDenied: the acting subject may not do what it asked.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrResourceExhausted: the request needs more than a configured bound allows.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrUnavailable: the store cannot be reached; the request may succeed later.
	ErrUnavailable = errors.New("datastore unavailable")
)

// Specific sentinels, each of one kind.
var (
	// ErrSchemaNotFound: the tenant has no schema at the revision read.
	ErrSchemaNotFound = Sentinel("no schema has been written", ErrFailedPrecondition)
	// ErrTenantNotFound: the named tenant does not exist.
	ErrTenantNotFound = Sentinel("tenant not found", ErrNotFound)
	// ErrTenantExists: CreateTenant named a tenant that exists.
	ErrTenantExists = Sentinel("tenant already exists", ErrAlreadyExists)
	// ErrRecordNotFound is ReadRecord's answer for a record absent at the reader's
	// revision.
	ErrRecordNotFound = Sentinel("record not found", ErrNotFound)
	// ErrClosed: the store was closed.
	ErrClosed = Sentinel("datastore closed", ErrUnavailable)
)

// Sentinel returns a sentinel error with its own text that is also of kind, one of
// the kinds above: errors.Is matches it and the kind.
func Sentinel(text string, kind error) error { return &sentinel{text: text, kind: kind} }

type sentinel struct {
	text string
	kind error
}

func (e *sentinel) Error() string { return e.text }
func (e *sentinel) Unwrap() error { return e.kind }

// TenantNotFound returns an error for a missing tenant that names it.
func TenantNotFound(name string) error {
	return fmt.Errorf("tenant %q: %w", name, ErrTenantNotFound)
}

// NoSchemaError reports a tenant without a schema at the revision read or written
// on. It matches ErrSchemaNotFound (and so ErrFailedPrecondition).
type NoSchemaError struct {
	Tenant   string
	Revision Revision
}

func (e *NoSchemaError) Error() string {
	return fmt.Sprintf("tenant %q has no schema at revision %d: write a schema first", e.Tenant, e.Revision)
}

// Unwrap lets errors.Is match ErrSchemaNotFound.
func (e *NoSchemaError) Unwrap() error { return ErrSchemaNotFound }

// RelationshipExistsError is returned by a Create of a relationship that is already
// stored and live. It matches ErrAlreadyExists.
type RelationshipExistsError struct {
	Relationship tuple.Key
}

func (e *RelationshipExistsError) Error() string {
	return fmt.Sprintf("relationship %s already exists", e.Relationship)
}

// Unwrap lets errors.Is match ErrAlreadyExists.
func (e *RelationshipExistsError) Unwrap() error { return ErrAlreadyExists }

// RevisionError says why a revision cannot be read. A collected revision matches
// ErrFailedPrecondition (retry with a newer token), one newer than the head
// ErrInvalidArgument.
type RevisionError struct {
	Revision Revision
	// TooOld is set when the revision was garbage-collected; otherwise it is newer
	// than the tenant's head.
	TooOld bool
	// Oldest is the oldest revision still readable (for TooOld) or the head.
	Oldest, Head Revision
}

func (e *RevisionError) Error() string {
	if e.TooOld {
		return fmt.Sprintf("revision %d is no longer available: it is older than the garbage-collection window (oldest readable revision is %d); retry with a newer token or full consistency", e.Revision, e.Oldest)
	}
	return fmt.Sprintf("revision %d is newer than the head revision %d of this tenant", e.Revision, e.Head)
}

// Unwrap gives the error's kind.
func (e *RevisionError) Unwrap() error {
	if e.TooOld {
		return ErrFailedPrecondition
	}
	return ErrInvalidArgument
}

// RelationshipLimitError refuses a write transaction that would grow its tenant
// beyond the limit it was given (ReadWriteTx.LimitRelationships). Nothing of the
// transaction was written. It matches ErrResourceExhausted.
type RelationshipLimitError struct {
	Tenant string
	// Limit is the most relationships the tenant may store.
	Limit int64
	// Stored is how many the tenant stores; After how many it would store had the
	// transaction committed.
	Stored, After int64
}

func (e *RelationshipLimitError) Error() string {
	return fmt.Sprintf("tenant %q stores %d relationships and this write would bring it to %d, over its limit of %d; nothing was written: delete relationships first or raise the tenant's relationship limit",
		e.Tenant, e.Stored, e.After, e.Limit)
}

// Unwrap gives the error's kind.
func (e *RelationshipLimitError) Unwrap() error { return ErrResourceExhausted }

// CheckRelationshipLimit is the rule of ReadWriteTx.LimitRelationships, which every
// store applies at commit: a transaction that takes the tenant from stored to after
// relationships breaks limit (0: none) only when it grows the tenant beyond it.
func CheckRelationshipLimit(tenant string, limit, stored, after int64) error {
	if limit <= 0 || after <= limit || after <= stored {
		return nil
	}
	return &RelationshipLimitError{Tenant: tenant, Limit: limit, Stored: stored, After: after}
}

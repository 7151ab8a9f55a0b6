package datastore

import (
	"errors"
	"fmt"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Sentinel errors. Stores wrap them with context; callers test with errors.Is and the
// server maps them to status codes in one place.
var (
	// ErrSchemaNotFound: the tenant has no schema at the revision read.
	ErrSchemaNotFound = errors.New("no schema has been written")
	// ErrTenantNotFound: the named tenant does not exist.
	ErrTenantNotFound = errors.New("tenant not found")
	// ErrTenantExists: CreateTenant named a tenant that exists.
	ErrTenantExists = errors.New("tenant already exists")
	// ErrUnavailable: the store cannot be reached; the request may succeed later.
	ErrUnavailable = errors.New("datastore unavailable")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("datastore closed")
	// ErrInvalidArgument: a value handed to the store breaks its rules. It is
	// tuple.ErrInvalid, so a bad name that package finds and a bad value a store finds
	// are one kind of error.
	ErrInvalidArgument = tuple.ErrInvalid
)

// TenantNotFound returns an error for a missing tenant that names it.
func TenantNotFound(name string) error {
	return fmt.Errorf("tenant %q: %w", name, ErrTenantNotFound)
}

// RelationshipExistsError is returned by a Create of a relationship that is already
// stored and live.
type RelationshipExistsError struct {
	Relationship tuple.Key
}

func (e *RelationshipExistsError) Error() string {
	return fmt.Sprintf("relationship %s already exists", e.Relationship)
}

// RevisionError says why a revision cannot be read.
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

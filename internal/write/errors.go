package write

import (
	"fmt"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// invalidf returns an error for a request that breaks the rules; it satisfies
// errors.Is(err, datastore.ErrInvalidArgument).
func invalidf(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// InvalidError is a request that breaks a rule of the API or of the schema.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

// Is makes InvalidError match datastore.ErrInvalidArgument.
func (e *InvalidError) Is(target error) bool { return target == datastore.ErrInvalidArgument }

// GrantedRefusal explains why a write may not set a relationship's grant: the write
// path records it, from the acting subject and the object its right came through, so
// that a client cannot claim a grant nobody made. Only an import (an admin key
// restoring an export) carries grants in.
const GrantedRefusal = "the grant is recorded by the server for a delegated write and cannot be written; only an import may carry it"

// GrantedSetError is a write update that sets the relationship's grant.
type GrantedSetError struct {
	Update       int
	Relationship tuple.Key
}

func (e *GrantedSetError) Error() string {
	return fmt.Sprintf("update %d (%s): granted: %s", e.Update, e.Relationship, GrantedRefusal)
}

// Unwrap gives the error's kind.
func (e *GrantedSetError) Unwrap() error { return datastore.ErrInvalidArgument }

// LimitError is a request over a configured bound.
type LimitError struct {
	Limit string
	Max   int
	Got   int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("too many %s: %d given, the limit is %d", e.Limit, e.Got, e.Max)
}

// Unwrap gives the error's kind: a request over a bound is an invalid argument.
func (e *LimitError) Unwrap() error { return datastore.ErrInvalidArgument }

// PreconditionError is a precondition that did not hold.
type PreconditionError struct {
	Index     int
	MustMatch bool
	Filter    datastore.RelationshipFilter
	// Found is the relationship that matched a must-not-match precondition.
	Found *tuple.Relationship
}

func (e *PreconditionError) Error() string {
	if e.MustMatch {
		return fmt.Sprintf("precondition %d failed: no relationship matches %s", e.Index, e.Filter)
	}
	return fmt.Sprintf("precondition %d failed: relationship %s matches %s, which must match nothing", e.Index, e.Found, e.Filter)
}

// Unwrap gives the error's kind.
func (e *PreconditionError) Unwrap() error { return datastore.ErrFailedPrecondition }

// PermissionDeniedError is a delegated update the acting subject may not make.
type PermissionDeniedError struct {
	Actor  tuple.SubjectRef
	Update string // the update, e.g. "create document:q3#viewer@user:bob"
	Rule   string // the grant rule that was evaluated, or "" when there is none
	Reason string
}

func (e *PermissionDeniedError) Error() string {
	if e.Rule == "" {
		return fmt.Sprintf("%s may not %s: %s", e.Actor, e.Update, e.Reason)
	}
	return fmt.Sprintf("%s may not %s: %s (rule %q)", e.Actor, e.Update, e.Reason, e.Rule)
}

// Unwrap gives the error's kind.
func (e *PermissionDeniedError) Unwrap() error { return datastore.ErrPermissionDenied }

// ActorError is a delegated request whose acting subject cannot act: a wildcard or a
// subject set rather than one subject.
type ActorError struct {
	Actor  tuple.SubjectRef
	Reason string
}

func (e *ActorError) Error() string {
	return fmt.Sprintf("%s may not act on anyone's behalf: %s", e.Actor, e.Reason)
}

// Unwrap gives the error's kind.
func (e *ActorError) Unwrap() error { return datastore.ErrPermissionDenied }

// LifetimeError is a delegated grant without an expiry, or one that outlives the grant
// rule's bound. It is a PermissionDeniedError in spirit but names the bound.
type LifetimeError struct {
	Actor    tuple.SubjectRef
	Update   string
	Rule     string
	Max      time.Duration
	Deadline time.Time
}

func (e *LifetimeError) Error() string {
	return fmt.Sprintf("%s may not %s: rule %q requires delegated grants to expire within %s (by %s)",
		e.Actor, e.Update, e.Rule, formatDuration(e.Max), e.Deadline.UTC().Format(time.RFC3339))
}

// Unwrap gives the error's kind.
func (e *LifetimeError) Unwrap() error { return datastore.ErrPermissionDenied }

// SchemaRefusedError is a schema change that would orphan stored relationships.
type SchemaRefusedError struct {
	Orphans []Orphan
}

// Orphan is one group of stored relationships a schema change would leave behind.
type Orphan struct {
	Description string
	Count       int64
	Example     tuple.Relationship
}

func (e *SchemaRefusedError) Error() string {
	var b strings.Builder
	b.WriteString("schema change refused: it would orphan stored relationships")
	for _, o := range e.Orphans {
		fmt.Fprintf(&b, "; %s: %d relationship(s), e.g. %s", o.Description, o.Count, o.Example)
	}
	b.WriteString(" (delete those relationships first)")
	return b.String()
}

// Unwrap gives the error's kind.
func (e *SchemaRefusedError) Unwrap() error { return datastore.ErrFailedPrecondition }

// ImportError is an import that stopped part-way. Committed relationships stay; the
// import is idempotent, so once the cause is dealt with (at once, for a store that was
// briefly unavailable) running it again resumes it.
type ImportError struct {
	Committed int64
	Err       error
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("import stopped after %d relationships were committed: %v", e.Committed, e.Err)
}

func (e *ImportError) Unwrap() error { return e.Err }

func formatDuration(d time.Duration) string {
	switch {
	case d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%dw", d/(7*24*time.Hour))
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// RequestRefusedError is an operation on an access request that the state or the
// acting subject's rights do not allow.
type RequestRefusedError struct {
	// Actor is the acting subject; zero for a refusal that is about the state.
	Actor tuple.SubjectRef
	// What is the operation ("approve access request 0194...").
	What   string
	Reason string
	// Precondition makes the error a failed precondition (the schema or the state
	// does not allow it) rather than a permission denied.
	Precondition bool
}

func (e *RequestRefusedError) Error() string {
	if e.Actor.Type == "" {
		return fmt.Sprintf("cannot %s: %s", e.What, e.Reason)
	}
	return fmt.Sprintf("%s may not %s: %s", e.Actor, e.What, e.Reason)
}

// Unwrap gives the error's kind.
func (e *RequestRefusedError) Unwrap() error {
	if e.Precondition {
		return datastore.ErrFailedPrecondition
	}
	return datastore.ErrPermissionDenied
}

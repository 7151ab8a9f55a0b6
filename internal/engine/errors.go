package engine

import (
	"fmt"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// Sentinel errors, for errors.Is. Each is of one of the datastore's kinds, which the
// server maps to status codes in one place. A tenant without a schema gives a
// *datastore.NoSchemaError.
var (
	// ErrInvalidRequest: a request names something the schema does not have, or breaks
	// a limit. It is of kind datastore.ErrInvalidArgument.
	ErrInvalidRequest = datastore.Sentinel("invalid request", datastore.ErrInvalidArgument)
	// ErrDepthExceeded: an evaluation needed more nested steps than Config.MaxDepth.
	// The errors carrying it are *DepthError values, of kind
	// datastore.ErrResourceExhausted.
	ErrDepthExceeded = datastore.Sentinel("maximum depth exceeded", datastore.ErrResourceExhausted)
	// ErrInvalidCursor: a lookup cursor is malformed or belongs to another request.
	ErrInvalidCursor = datastore.Sentinel("invalid cursor", datastore.ErrInvalidArgument)
)

// RequestError says which field of a request is wrong and why.
type RequestError struct {
	Field  string // "resource type", "permission", "subject", "contextual relationship 3", ...
	Value  string
	Reason string
	// Err, when set, is the underlying problem (for example the schema's answer to
	// an unknown name); its message is used as the reason.
	Err error
}

func (e *RequestError) Error() string {
	if e.Err != nil {
		if e.Field == "" {
			return e.Err.Error()
		}
		return e.Field + ": " + e.Err.Error()
	}
	if e.Value == "" {
		return fmt.Sprintf("%s %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("%s `%s` %s", e.Field, e.Value, e.Reason)
}

// Unwrap lets errors.Is match ErrInvalidRequest (and so datastore.ErrInvalidArgument).
func (e *RequestError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Err, ErrInvalidRequest}
	}
	return []error{ErrInvalidRequest}
}

func requestErr(field, value, reason string) error {
	return &RequestError{Field: field, Value: value, Reason: reason}
}

// DepthError reports an evaluation deeper than the configured limit. Cycles in the
// data never produce it (they are cut); a chain of genuinely nested relationships or
// permissions longer than the limit does. The server maps it to RESOURCE_EXHAUSTED.
type DepthError struct {
	// Limit is Config.MaxDepth.
	Limit int
	// At is the relation or permission where the limit was reached, as type:id#relation.
	At string
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("evaluation exceeded the maximum depth of %d at %s: the relationship graph nests deeper than the engine's depth limit (Config.MaxDepth)", e.Limit, e.At)
}

// Unwrap lets errors.Is match ErrDepthExceeded.
func (e *DepthError) Unwrap() error { return ErrDepthExceeded }

// CaveatError reports a caveat that could not be evaluated, usually because the
// request context gave a parameter a value of the wrong type. It satisfies
// errors.Is(err, ErrInvalidRequest).
type CaveatError struct {
	Caveat string
	// Relationship is the relationship the caveat was attached to, in text form.
	Relationship string
	Err          error
}

func (e *CaveatError) Error() string {
	return fmt.Sprintf("caveat `%s` on relationship %s could not be evaluated: %v", e.Caveat, e.Relationship, e.Err)
}

// Unwrap returns the evaluation error and ErrInvalidRequest.
func (e *CaveatError) Unwrap() []error { return []error{e.Err, ErrInvalidRequest} }

package scim

import (
	"fmt"
	"net/http"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// ErrorSchema is the URN of SCIM error responses.
const ErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// Error is a SCIM error response (RFC 7644 §3.12): an HTTP status, an optional
// scimType and a detail naming what is wrong.
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *Error) Error() string {
	if e.ScimType == "" {
		return fmt.Sprintf("SCIM %d: %s", e.Status, e.Detail)
	}
	return fmt.Sprintf("SCIM %d %s: %s", e.Status, e.ScimType, e.Detail)
}

// Unwrap gives the error's kind, so the write path treats it as a refusal and
// audits it.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return datastore.ErrNotFound
	case http.StatusConflict:
		return datastore.ErrAlreadyExists
	case http.StatusPreconditionFailed:
		return datastore.ErrFailedPrecondition
	case http.StatusRequestEntityTooLarge:
		return datastore.ErrResourceExhausted
	case http.StatusForbidden:
		return datastore.ErrPermissionDenied
	}
	return datastore.ErrInvalidArgument
}

// Errorf builds an Error.
func Errorf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// Body is the JSON body of the error.
func (e *Error) Body() map[string]any {
	b := map[string]any{"schemas": []string{ErrorSchema}, "status": fmt.Sprint(e.Status), "detail": e.Detail}
	if e.ScimType != "" {
		b["scimType"] = e.ScimType
	}
	return b
}

// Common errors.
func invalidValue(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "invalidValue", format, args...)
}

func mutability(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "mutability", format, args...)
}

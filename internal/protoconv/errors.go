package protoconv

import (
	"fmt"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// FieldError is a request field that is missing or malformed. Its message starts with
// the field path.
type FieldError struct {
	Field   string
	Message string // the whole message, field path included
}

func (e *FieldError) Error() string { return e.Message }

// Is makes a FieldError match tuple.ErrInvalid, which the server maps to
// INVALID_ARGUMENT.
func (e *FieldError) Is(target error) bool { return target == tuple.ErrInvalid }

// fieldErrorf builds a FieldError whose message is formatted.
func fieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// required is the error for an absent message field.
func required(field string) error {
	return fieldErrorf(field, "%s is required", field)
}

package write

import (
	"fmt"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// ScimConnectionExistsError is a connection name already taken in the tenant.
type ScimConnectionExistsError struct{ Name string }

func (e *ScimConnectionExistsError) Error() string {
	return fmt.Sprintf("SCIM connection %q exists; choose another name, or rotate its token", e.Name)
}

// Unwrap gives the error's kind.
func (e *ScimConnectionExistsError) Unwrap() error { return datastore.ErrAlreadyExists }

// ScimConnectionNotFoundError is a connection name the tenant does not have.
type ScimConnectionNotFoundError struct{ Name string }

func (e *ScimConnectionNotFoundError) Error() string {
	return fmt.Sprintf("SCIM connection %q not found", e.Name)
}

// Unwrap gives the error's kind.
func (e *ScimConnectionNotFoundError) Unwrap() error { return datastore.ErrNotFound }

// ScimRoleRefusedError is a role mapping the schema or the creator's rights do not
// allow.
type ScimRoleRefusedError struct {
	Mapping string
	Rule    string
	Reason  string
}

func (e *ScimRoleRefusedError) Error() string {
	if e.Rule == "" {
		return fmt.Sprintf("%s refused: %s", e.Mapping, e.Reason)
	}
	return fmt.Sprintf("%s refused: %s (rule %q)", e.Mapping, e.Reason, e.Rule)
}

// Unwrap gives the error's kind.
func (e *ScimRoleRefusedError) Unwrap() error { return datastore.ErrPermissionDenied }

// ScimTokenError is a bearer token that identifies no live connection; the SCIM
// endpoints answer it 401.
type ScimTokenError struct{ Reason string }

func (e *ScimTokenError) Error() string { return e.Reason }

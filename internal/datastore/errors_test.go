package datastore

import (
	"errors"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestErrors(t *testing.T) {
	if err := TenantNotFound("acme"); !errors.Is(err, ErrTenantNotFound) || !strings.Contains(err.Error(), `"acme"`) {
		t.Errorf("TenantNotFound(acme) = %v", err)
	}
	if !errors.Is(ErrInvalidArgument, tuple.ErrInvalid) {
		t.Error("ErrInvalidArgument is not tuple.ErrInvalid")
	}
	key := tuple.MustParse("document:a#viewer@user:x").Key()
	if msg := (&RelationshipExistsError{Relationship: key}).Error(); !strings.Contains(msg, key.String()) {
		t.Errorf("RelationshipExistsError says %q, which does not name %s", msg, key)
	}
	tooOld := (&RevisionError{Revision: 3, TooOld: true, Oldest: 8, Head: 20}).Error()
	if !strings.Contains(tooOld, "revision 3 is no longer available") || !strings.Contains(tooOld, "oldest readable revision is 8") {
		t.Errorf("too old: %q", tooOld)
	}
	tooNew := (&RevisionError{Revision: 30, Head: 20}).Error()
	if !strings.Contains(tooNew, "revision 30 is newer than the head revision 20") {
		t.Errorf("too new: %q", tooNew)
	}
}

// Every specific error is of exactly one kind, the one the server maps to a code.
func TestErrorKinds(t *testing.T) {
	kinds := []error{ErrInvalidArgument, ErrNotFound, ErrAlreadyExists, ErrFailedPrecondition, ErrPermissionDenied, ErrResourceExhausted, ErrUnavailable}
	cases := []struct {
		err  error
		kind error
	}{
		{ErrSchemaNotFound, ErrFailedPrecondition},
		{&NoSchemaError{Tenant: "default", Revision: 4}, ErrFailedPrecondition},
		{TenantNotFound("acme"), ErrNotFound},
		{ErrTenantExists, ErrAlreadyExists},
		{ErrClosed, ErrUnavailable},
		{&RelationshipExistsError{}, ErrAlreadyExists},
		{&RevisionError{Revision: 3, TooOld: true}, ErrFailedPrecondition},
		{&RevisionError{Revision: 9, Head: 4}, ErrInvalidArgument},
		{&tuple.ValidationError{Field: "x", Reason: "bad"}, ErrInvalidArgument},
	}
	for _, c := range cases {
		for _, k := range kinds {
			if got, want := errors.Is(c.err, k), k == c.kind; got != want {
				t.Errorf("errors.Is(%T %q, %v) = %v, want %v", c.err, c.err, k, got, want)
			}
		}
	}
	if !errors.Is(&NoSchemaError{}, ErrSchemaNotFound) || ErrSchemaNotFound.Error() != "no schema has been written" {
		t.Error("NoSchemaError does not match ErrSchemaNotFound, or the sentinel's text changed")
	}
}

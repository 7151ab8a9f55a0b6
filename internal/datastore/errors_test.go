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

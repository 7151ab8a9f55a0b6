package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

// The one mapping from the layers' errors to status codes, wrapped as they arrive.
func TestErrorCodes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("doing something: %w", err) }
	cases := []struct {
		err  error
		want codes.Code
	}{
		{&datastore.RelationshipExistsError{}, codes.AlreadyExists},
		{wrap(&datastore.RevisionError{Revision: 3, TooOld: true}), codes.FailedPrecondition},
		{&datastore.RevisionError{Revision: 9, Head: 4}, codes.InvalidArgument},
		{wrap(datastore.ErrInvalidArgument), codes.InvalidArgument},
		{wrap(datastore.ErrUnavailable), codes.Unavailable},
		{datastore.ErrClosed, codes.Unavailable},
		{datastore.TenantNotFound("acme"), codes.NotFound},
		{wrap(datastore.ErrTenantExists), codes.AlreadyExists},
		{wrap(datastore.ErrSchemaNotFound), codes.FailedPrecondition},
		{&tuple.ValidationError{Field: "resource id", Value: "x y", Reason: "bad"}, codes.InvalidArgument},
		{&tuple.ParseError{Input: "x", Reason: "bad"}, codes.InvalidArgument},
		{schema.ErrorList{&schema.Error{Message: "relation `viewr` not found"}}, codes.InvalidArgument},
		{&write.SchemaCompileError{Err: errors.New("bad")}, codes.InvalidArgument},
		{wrap(&engine.DepthError{Limit: 50, At: "group:a#member"}), codes.ResourceExhausted},
		{&engine.RequestError{Field: "permission", Value: "nosuch", Reason: "is not defined"}, codes.InvalidArgument},
		{&datastore.NoSchemaError{Tenant: "default"}, codes.FailedPrecondition},
		{wrap(engine.ErrInvalidCursor), codes.InvalidArgument},
		{&write.PermissionDeniedError{Actor: tuple.SubjectRef{Type: "user", ID: "bob"}, Update: "create x", Rule: "grant member by manage"}, codes.PermissionDenied},
		{&write.LifetimeError{}, codes.PermissionDenied},
		{&write.PreconditionError{MustMatch: true}, codes.FailedPrecondition},
		{&write.SchemaRefusedError{}, codes.FailedPrecondition},
		{&write.LimitError{Limit: "updates per write", Max: 1000, Got: 1001}, codes.InvalidArgument},
		{&write.ImportError{Committed: 5000, Err: invalidf("relationships[3].resource.id is bad")}, codes.InvalidArgument},
		{&write.ImportError{Committed: 5000, Err: datastore.ErrUnavailable}, codes.Unavailable},
		{wrap(context.DeadlineExceeded), codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{status.Error(codes.PermissionDenied, "already a status"), codes.PermissionDenied},
		{errors.New("something unexpected"), codes.Internal},
	}
	for _, c := range cases {
		st := status.Convert(toStatus(c.err))
		if st.Code() != c.want {
			t.Errorf("%T %q: %v, want %v", c.err, c.err, st.Code(), c.want)
		}
		if st.Message() != c.err.Error() && status.Code(c.err) == codes.Unknown {
			t.Errorf("%T: message %q, want the error's own %q", c.err, st.Message(), c.err.Error())
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) is not nil")
	}
	// An import stopped by a bad relationship reads as one sentence.
	msg := status.Convert(toStatus(&write.ImportError{Committed: 7, Err: invalidf("relationships[0].subject.id is empty")})).Message()
	if msg != "import stopped after 7 relationships were committed: relationships[0].subject.id is empty" {
		t.Errorf("import error message = %q", msg)
	}
}

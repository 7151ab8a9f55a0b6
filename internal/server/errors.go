package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

// toStatus maps an error from the engine, the write path or a store to a gRPC status
// error. It is the one place that decides codes; every RPC returns through it.
// Messages are kept as the layers below wrote them: they name the field and value.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err // already a status: its code and message stand
	}
	return status.Error(codeOf(err), err.Error())
}

// codeOf picks the status code for an error.
func codeOf(err error) codes.Code {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Code()
	}
	var (
		exists    *datastore.RelationshipExistsError
		revErr    *datastore.RevisionError
		denied    *write.PermissionDeniedError
		lifetime  *write.LifetimeError
		pre       *write.PreconditionError
		refused   *write.SchemaRefusedError
		noSchemaW *write.NoSchemaError
		limit     *write.LimitError
		validErr  *tuple.ValidationError
		parseErr  *tuple.ParseError
		schemaErr *schema.Error
		imported  *write.ImportError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.As(err, &imported):
		// The committed part stays; the code is the one of the cause.
		return codeOf(imported.Err)
	case errors.As(err, &exists):
		return codes.AlreadyExists
	case errors.As(err, &revErr):
		if revErr.TooOld {
			return codes.FailedPrecondition
		}
		return codes.InvalidArgument
	case errors.As(err, &denied), errors.As(err, &lifetime):
		return codes.PermissionDenied
	case errors.As(err, &pre), errors.As(err, &refused):
		return codes.FailedPrecondition
	case errors.As(err, &noSchemaW), errors.Is(err, engine.ErrNoSchema), errors.Is(err, datastore.ErrSchemaNotFound):
		return codes.FailedPrecondition
	case errors.Is(err, engine.ErrDepthExceeded):
		return codes.ResourceExhausted
	case errors.As(err, &limit):
		return codes.InvalidArgument
	case errors.Is(err, datastore.ErrTenantNotFound):
		return codes.NotFound
	case errors.Is(err, datastore.ErrTenantExists):
		return codes.AlreadyExists
	case errors.Is(err, datastore.ErrUnavailable), errors.Is(err, datastore.ErrClosed):
		return codes.Unavailable
	case errors.As(err, &validErr), errors.As(err, &parseErr), errors.As(err, &schemaErr),
		errors.Is(err, engine.ErrInvalidCursor), errors.Is(err, engine.ErrInvalidRequest),
		errors.Is(err, datastore.ErrInvalidArgument):
		return codes.InvalidArgument
	}
	return codes.Internal
}

// apiError is an error the server itself raises, with its status code. Its message is
// plain (no "rpc error:" prefix), so it reads well when a layer below wraps it, as an
// import that stops on a bad relationship does.
type apiError struct {
	code codes.Code
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// GRPCStatus lets gRPC and status.FromError see the code.
func (e *apiError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// invalidf is an INVALID_ARGUMENT error for a malformed request. The message starts
// with the field path, e.g. "updates[2].relationship.resource.id".
func invalidf(format string, args ...any) error {
	return &apiError{code: codes.InvalidArgument, msg: fmt.Sprintf(format, args...)}
}

// invalidErr makes a validation error that already names its field
// (a *tuple.ValidationError built with the field path) INVALID_ARGUMENT.
func invalidErr(err error) error {
	return &apiError{code: codes.InvalidArgument, msg: err.Error()}
}

// fieldErr prefixes an error from a validation function with the field it concerns and
// makes it INVALID_ARGUMENT.
func fieldErr(field string, err error) error {
	return &apiError{code: codes.InvalidArgument, msg: field + ": " + err.Error()}
}

package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore"
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
	if qr := lowerQuotaRefusal(err); qr != nil {
		return qr
	}
	return status.Error(codeOf(err), err.Error())
}

// codeOf picks the status code for an error. The layers below report a few kinds of
// failure (datastore.Err*); every error they return matches one of them through
// errors.Is, so the mapping needs neither their error types nor their messages.
func codeOf(err error) codes.Code {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Code()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, datastore.ErrInvalidArgument):
		return codes.InvalidArgument
	case errors.Is(err, datastore.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, datastore.ErrAlreadyExists):
		return codes.AlreadyExists
	case errors.Is(err, datastore.ErrFailedPrecondition):
		return codes.FailedPrecondition
	case errors.Is(err, datastore.ErrPermissionDenied):
		return codes.PermissionDenied
	case errors.Is(err, datastore.ErrResourceExhausted):
		return codes.ResourceExhausted
	case errors.Is(err, datastore.ErrUnavailable):
		return codes.Unavailable
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

package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// classifyErr turns a driver error into one the rest of Pemba understands: lost or
// refused connections and an overloaded or restarting server wrap
// datastore.ErrUnavailable (the server answers UNAVAILABLE and the client may retry),
// values the database rejects wrap datastore.ErrInvalidArgument. Everything else,
// including the caller's own errors returned through a transaction, passes unchanged.
func classifyErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, datastore.ErrUnavailable) || errors.Is(err, datastore.ErrInvalidArgument) ||
		errors.Is(err, datastore.ErrClosed) {
		return err
	}
	if errors.Is(err, puddle.ErrClosedPool) {
		return datastore.ErrClosed
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutdown, crash, starting up
			pgErr.Code == "53300": // too many connections
			return fmt.Errorf("%w: the database cannot serve requests now: %w", datastore.ErrUnavailable, err)
		case pgErr.Code == "40001": // serialization failure left after every retry
			return fmt.Errorf("%w: too much contention, retry later: %w", datastore.ErrUnavailable, err)
		case strings.HasPrefix(pgErr.Code, "22"), // data exception (bad encoding, out of range)
			pgErr.Code == "54000": // program limit exceeded (an index row too large)
			return fmt.Errorf("%w: %w", datastore.ErrInvalidArgument, err)
		}
		return err
	}
	var maxRetries *crdb.MaxRetriesExceededError
	if errors.As(err, &maxRetries) {
		return fmt.Errorf("%w: too much contention, retry later: %w", datastore.ErrUnavailable, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if isConnectionError(err) {
		return fmt.Errorf("%w: the database connection failed: %w", datastore.ErrUnavailable, err)
	}
	return err
}

// isConnectionError reports whether err says the connection to the database failed,
// as opposed to the database answering with an error.
func isConnectionError(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
		opErr      *net.OpError
	)
	return errors.As(err, &connectErr) ||
		errors.As(err, &opErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) ||
		pgconn.Timeout(err)
}

// ambiguousCommit wraps an error from COMMIT that leaves the outcome unknown: the
// connection broke after the commit was sent. Pemba never retries such a transaction,
// since it may have been applied.
func ambiguousCommit(err error) error {
	return fmt.Errorf("%w: %w: %w", datastore.ErrUnavailable, errAmbiguousCommit, err)
}

var errAmbiguousCommit = errors.New("the connection failed while committing, so the write may or may not have been applied; read it back before retrying")

package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Limits bound what one request may ask for. The zero value of a field means its
// documented default; the flag that sets each is named in its error message.
type Limits struct {
	// MaxMessageSize is the largest request message, in bytes (gRPC and REST bodies).
	// Default 4 MiB. Larger requests fail with RESOURCE_EXHAUSTED (gRPC) or 413 (REST).
	MaxMessageSize int
	// MaxUpdatesPerWrite bounds a WriteRelationships. Default 1000.
	MaxUpdatesPerWrite int
	// MaxPreconditions bounds the preconditions of one write or delete. Default 100.
	MaxPreconditions int
	// MaxCheckBulkItems bounds a CheckBulk. Default 1000.
	MaxCheckBulkItems int
	// MaxContextualRelationships bounds the contextual relationships of one request.
	// Default 100.
	MaxContextualRelationships int
	// MaxPageSize bounds the limit or page size of reads, audit queries and reviews;
	// a request asking for 0 gets this many. Default 1000.
	MaxPageSize int
	// MaxLookupLimit bounds the limit of LookupResources and LookupSubjects; a request
	// asking for 0 gets this many. Lookups stream their results, so a large limit
	// costs no server memory, while every continuation from a cursor recomputes the
	// lookup's intermediate sets. Default 10000.
	MaxLookupLimit int
	// MaxDeleteLimit bounds how many relationships one DeleteRelationships removes; a
	// request with limit 0 gets this many. Default 10000.
	MaxDeleteLimit int
	// MaxLookupWork bounds the work of one LookupResources or LookupSubjects call, in
	// store reads: each query the lookup makes and each relationship it reads count
	// one, the checks that confirm its candidates included. A lookup that reaches it
	// fails with RESOURCE_EXHAUSTED after the results it streamed. A tenant's quota
	// may set its own (TenantQuota.MaxLookupWork). Default 1000000, about 90 times
	// what listing 10,000 documents through an eight-level organisation tree reads.
	MaxLookupWork int
	// DefaultDeadline applies to unary requests that arrive without a deadline.
	// Default 30s. Streams run until the client ends them.
	DefaultDeadline time.Duration
}

// Defaults for Limits.
const (
	DefaultMaxMessageSize             = 4 << 20
	DefaultMaxUpdatesPerWrite         = 1000
	DefaultMaxPreconditions           = 100
	DefaultMaxCheckBulkItems          = 1000
	DefaultMaxContextualRelationships = 100
	DefaultMaxPageSize                = 1000
	DefaultMaxLookupLimit             = 10000
	DefaultMaxDeleteLimit             = 10000
	DefaultMaxLookupWork              = 1_000_000
	DefaultDeadline                   = 30 * time.Second
)

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	set := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	set(&l.MaxMessageSize, DefaultMaxMessageSize)
	set(&l.MaxUpdatesPerWrite, DefaultMaxUpdatesPerWrite)
	set(&l.MaxPreconditions, DefaultMaxPreconditions)
	set(&l.MaxCheckBulkItems, DefaultMaxCheckBulkItems)
	set(&l.MaxContextualRelationships, DefaultMaxContextualRelationships)
	set(&l.MaxPageSize, DefaultMaxPageSize)
	set(&l.MaxLookupLimit, DefaultMaxLookupLimit)
	set(&l.MaxDeleteLimit, DefaultMaxDeleteLimit)
	set(&l.MaxLookupWork, DefaultMaxLookupWork)
	if l.DefaultDeadline <= 0 {
		l.DefaultDeadline = DefaultDeadline
	}
	return l
}

// limitErr is the INVALID_ARGUMENT error of a broken limit, naming the field, the
// value, the limit and the flag that raises it.
func limitErr(field string, got, max int, flag string) error {
	return invalidf("%s: %d exceeds the limit of %d (server flag --%s)", field, got, max, flag)
}

// check applies the count limits to one request message.
func (l Limits) check(msg any) error {
	count := func(field string, got, max int, flag string) error {
		if got > max {
			return limitErr(field, got, max, flag)
		}
		return nil
	}
	page := func(field string, got uint32) error {
		return count(field, int(got), l.MaxPageSize, "max-page-size")
	}
	lookup := func(got uint32) error {
		return count("limit", int(got), l.MaxLookupLimit, "max-lookup-limit")
	}
	contextual := func(n int) error {
		return count("contextual_relationships", n, l.MaxContextualRelationships, "max-contextual-relationships")
	}
	switch m := msg.(type) {
	case *pb.WriteRelationshipsRequest:
		if err := count("updates", len(m.GetUpdates()), l.MaxUpdatesPerWrite, "max-updates-per-write"); err != nil {
			return err
		}
		return count("preconditions", len(m.GetPreconditions()), l.MaxPreconditions, "max-preconditions")
	case *pb.DeleteRelationshipsRequest:
		if err := count("limit", int(m.GetLimit()), l.MaxDeleteLimit, "max-delete-limit"); err != nil {
			return err
		}
		return count("preconditions", len(m.GetPreconditions()), l.MaxPreconditions, "max-preconditions")
	case *pb.CheckRequest:
		return contextual(len(m.GetContextualRelationships()))
	case *pb.CheckBulkRequest:
		if err := count("items", len(m.GetItems()), l.MaxCheckBulkItems, "max-check-bulk-items"); err != nil {
			return err
		}
		return contextual(len(m.GetContextualRelationships()))
	case *pb.LookupResourcesRequest:
		if err := lookup(m.GetLimit()); err != nil {
			return err
		}
		return contextual(len(m.GetContextualRelationships()))
	case *pb.LookupSubjectsRequest:
		if err := lookup(m.GetLimit()); err != nil {
			return err
		}
		return contextual(len(m.GetContextualRelationships()))
	case *pb.ListPermissionsRequest:
		return contextual(len(m.GetContextualRelationships()))
	case *pb.ReadRelationshipsRequest:
		return page("limit", m.GetLimit())
	case *pb.ReadAuditLogRequest:
		return page("page_size", m.GetPageSize())
	case *pb.ReadDecisionsRequest:
		return page("page_size", m.GetPageSize())
	case *pb.ListActorGrantsRequest:
		return page("page_size", m.GetPageSize())
	case *pb.ReviewAccessRequest:
		return page("page_size", m.GetPageSize())
	}
	return nil
}

// lookupLimit is the number of lookup results to return for a requested limit (0 =
// the lookup limit).
func (l Limits) lookupLimit(requested uint32) int {
	if requested == 0 {
		return l.MaxLookupLimit
	}
	return int(requested)
}

// pageSize is the number of results to return for a requested limit (0 = the page
// limit).
func (l Limits) pageSize(requested uint32) int {
	if requested == 0 {
		return l.MaxPageSize
	}
	return int(requested)
}

func (l Limits) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := l.check(req); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.DefaultDeadline)
		defer cancel()
	}
	return handler(ctx, req)
}

func (l Limits) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &limitedStream{ServerStream: ss, limits: l})
}

// limitedStream applies the count limits to every message a client sends.
type limitedStream struct {
	grpc.ServerStream
	limits Limits
}

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.limits.check(m)
}

// String describes the limits for the startup log.
func (l Limits) String() string {
	return fmt.Sprintf("message %dB, updates/write %d, preconditions %d, check-bulk items %d, contextual relationships %d, page %d, lookup %d, lookup work %d, delete %d, deadline %s",
		l.MaxMessageSize, l.MaxUpdatesPerWrite, l.MaxPreconditions, l.MaxCheckBulkItems, l.MaxContextualRelationships, l.MaxPageSize, l.MaxLookupLimit, l.MaxLookupWork, l.MaxDeleteLimit, l.DefaultDeadline)
}

package server

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
)

// violation is one broken quota of one tenant, key or request, as a
// google.rpc.QuotaFailure: the subject ("tenant:acme"), the quota by its flag name
// (quota_id "tenant-requests-per-second") and a short description. A bucket keeps its
// violations, so a client over its rate, refused thousands of times a second, costs
// one encoding of it. It is kept short, as is the message: both travel in the
// trailers of every refusal, which the client decodes.
type violation struct {
	scope, name string // "tenant", "key" or "request", and its name
	quotaID     string
	description string
	once        sync.Once
	detail      *anypb.Any
}

func newViolation(scope, name, quotaID, description string) *violation {
	return &violation{scope: scope, name: name, quotaID: quotaID, description: description}
}

// encoded is the violation as an error detail.
func (v *violation) encoded() *anypb.Any {
	v.once.Do(func() {
		v.detail, _ = anypb.New(&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
			Subject:     v.scope + ":" + v.name,
			Description: v.description,
			QuotaId:     v.quotaID,
		}}})
	})
	return v.detail
}

// quotaRefusal is the error of a broken quota. The observer reads what it counts
// and logs (the quota, whether waiting helps) from its fields; its gRPC status, with
// the error details, is built once, when first asked for.
type quotaRefusal struct {
	msg   string
	v     *violation
	retry time.Duration // 0: waiting does not help
	once  sync.Once
	st    *status.Status
}

func (e *quotaRefusal) Error() string { return e.msg }

// GRPCStatus is RESOURCE_EXHAUSTED with the google.rpc.QuotaFailure of the violation
// and, when waiting helps, a google.rpc.RetryInfo with the delay. The REST gateway
// turns the delay into a Retry-After header.
func (e *quotaRefusal) GRPCStatus() *status.Status {
	e.once.Do(func() {
		p := &spb.Status{Code: int32(codes.ResourceExhausted), Message: e.msg}
		if d := e.v.encoded(); d != nil {
			p.Details = append(p.Details, d)
		}
		if e.retry > 0 {
			if d, err := anypb.New(&errdetails.RetryInfo{RetryDelay: durationpb.New(e.retry)}); err == nil {
				p.Details = append(p.Details, d)
			}
		}
		e.st = status.FromProto(p)
	})
	return e.st
}

// lowerQuotaRefusal gives the quotas enforced below the server, a tenant's
// relationships (by the store, at commit) and a lookup's work (by the engine), their
// refusal; it returns nil for every other error. Waiting does not help either, so
// they carry no retry delay: the caller has to delete relationships or narrow the
// lookup.
func lowerQuotaRefusal(err error) *quotaRefusal {
	var rl *datastore.RelationshipLimitError
	if errors.As(err, &rl) {
		return &quotaRefusal{msg: err.Error() + " (--tenant-max-relationships, or max_relationships in the tenant's entry of --quota-file)",
			v: newViolation("tenant", rl.Tenant, "tenant-max-relationships", fmt.Sprintf("%d relationships", rl.Limit))}
	}
	var lw *engine.LookupWorkError
	if errors.As(err, &lw) {
		return &quotaRefusal{msg: err.Error() + " (--max-lookup-work, or max_lookup_work in the tenant's entry of --quota-file)",
			v: newViolation("request", lw.Lookup, "max-lookup-work", fmt.Sprintf("%d store reads per lookup", lw.Limit))}
	}
	return nil
}

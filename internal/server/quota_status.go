package server

import (
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
)

// quotaStatus is the RESOURCE_EXHAUSTED status of a broken quota, with a
// google.rpc.QuotaFailure that names the tenant or key (subject "tenant:acme") and
// the quota by its flag (quota_id "tenant-requests-per-second"), and, when waiting
// helps, a google.rpc.RetryInfo with the delay. The REST gateway turns the delay into
// a Retry-After header.
func quotaStatus(msg, scope, name, quotaID string, retry time.Duration) *status.Status {
	st := status.New(codes.ResourceExhausted, msg)
	details := []protoadapt.MessageV1{&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
		Subject:         scope + ":" + name,
		Description:     msg,
		QuotaId:         quotaID,
		QuotaDimensions: map[string]string{scope: name},
	}}}}
	if retry > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(retry)})
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		return withDetails
	}
	return st
}

// lowerQuotaStatus gives the quotas enforced below the server, a tenant's
// relationships (by the store, at commit) and a lookup's work (by the engine), their
// QuotaFailure; ok is false for every other error. Waiting does not help either, so
// they carry no RetryInfo: the caller has to delete relationships or narrow the
// lookup.
func lowerQuotaStatus(err error) (_ *status.Status, ok bool) {
	var rl *datastore.RelationshipLimitError
	if errors.As(err, &rl) {
		return quotaStatus(err.Error()+" (--tenant-max-relationships, or max_relationships in the tenant's entry of --quota-file)",
			"tenant", rl.Tenant, "tenant-max-relationships", 0), true
	}
	var lw *engine.LookupWorkError
	if errors.As(err, &lw) {
		return quotaStatus(err.Error()+" (--max-lookup-work, or max_lookup_work in the tenant's entry of --quota-file)",
			"request", lw.Lookup, "max-lookup-work", 0), true
	}
	return nil, false
}

// retryDelay is the delay of a status's RetryInfo; ok is false when it has none.
func retryDelay(st *status.Status) (_ time.Duration, ok bool) {
	for _, d := range st.Details() {
		if ri, isRetry := d.(*errdetails.RetryInfo); isRetry && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

// quotaIDs lists the quotas a status says were broken.
func quotaIDs(st *status.Status) []string {
	var ids []string
	for _, d := range st.Details() {
		if qf, isQuota := d.(*errdetails.QuotaFailure); isQuota {
			for _, v := range qf.GetViolations() {
				ids = append(ids, v.GetQuotaId())
			}
		}
	}
	return ids
}

package requests

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Query filters and pages a listing of requests. The zero value lists the first
// DefaultPageSize requests of any state, organisation and resource type.
type Query struct {
	// State keeps requests in this state (as of now: a pending request past its
	// expiry is expired); "" keeps all. The inbox lists pending requests only.
	State State
	// Organization keeps requests naming this requester organisation.
	Organization *tuple.ObjectRef
	// ResourceType keeps requests for resources of this type.
	ResourceType string
	// After resumes a listing after the request with this id (a page's Next).
	After string
	// Limit is the page size; 0 means DefaultPageSize, and it is capped at MaxPageSize.
	Limit int
}

// Page sizes of listings, and how many stored requests one inbox page examines at
// most, so a page costs a bounded number of checks whoever asks.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
	MaxInboxScan    = 2000
)

// Page is one page of a listing.
type Page struct {
	Requests []AccessRequest
	// Next resumes the listing (Query.After); "" when it is complete. A page may
	// hold fewer than Limit requests and still have a Next, when the inbox stopped
	// at MaxInboxScan.
	Next string
}

func (q Query) limit() int {
	switch {
	case q.Limit <= 0:
		return DefaultPageSize
	case q.Limit > MaxPageSize:
		return MaxPageSize
	}
	return q.Limit
}

// Validate checks the query.
func (q Query) Validate() error {
	if q.Limit < 0 {
		return fmt.Errorf("page size %d is negative: %w", q.Limit, datastore.ErrInvalidArgument)
	}
	if q.State != "" {
		if _, err := ParseState(string(q.State)); err != nil {
			return err
		}
	}
	if q.ResourceType != "" {
		if err := tuple.ValidateTypeName("resource_type", q.ResourceType); err != nil {
			return err
		}
	}
	if q.Organization != nil {
		if err := tuple.ValidateObject("organization", *q.Organization); err != nil {
			return err
		}
	}
	return nil
}

func (q Query) matches(r *AccessRequest, now time.Time) bool {
	switch {
	case q.State != "" && r.StateAt(now) != q.State:
		return false
	case q.ResourceType != "" && r.Resource.Type != q.ResourceType:
		return false
	case q.Organization != nil && (r.Organization == nil || *r.Organization != *q.Organization):
		return false
	}
	return true
}

// Get reads request id at the reader's revision.
func Get(ctx context.Context, snap datastore.Reader, tenant, id string) (AccessRequest, error) {
	rec, err := snap.ReadRecord(ctx, Kind, id)
	if errors.Is(err, datastore.ErrRecordNotFound) || errors.Is(err, datastore.ErrInvalidArgument) {
		return AccessRequest{}, &NotFoundError{Tenant: tenant, ID: id}
	}
	if err != nil {
		return AccessRequest{}, err
	}
	return Decode(rec)
}

// ListMine lists the requests requester made, oldest first.
func ListMine(ctx context.Context, snap datastore.Reader, requester tuple.SubjectRef, q Query, now time.Time) (Page, error) {
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	return list(ctx, snap, datastore.RecordQuery{Key: RequesterKey(requester), AfterID: q.After}, q.limit(), 0,
		func(r *AccessRequest) (bool, error) { return q.matches(r, now), nil })
}

// ListInbox lists the pending requests approver may act on at the reader's
// revision: those with a party still to approve that the approver satisfies (see
// Eligible), oldest first.
func ListInbox(ctx context.Context, c Checker, tenant string, snap datastore.Reader, approver tuple.SubjectRef, q Query, now time.Time) (Page, error) {
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	if q.State != "" && q.State != Pending {
		return Page{}, fmt.Errorf("the inbox lists pending requests only; state %q cannot be asked for: %w", q.State, datastore.ErrInvalidArgument)
	}
	q.State = Pending
	sch, err := c.Schema(ctx, tenant, snap.Revision())
	if err != nil {
		return Page{}, err
	}
	return list(ctx, snap, datastore.RecordQuery{Key: StateKey(Pending), AfterID: q.After}, q.limit(), MaxInboxScan,
		func(r *AccessRequest) (bool, error) {
			if !q.matches(r, now) || r.Subject.Object() == approver.Object() {
				return false, nil
			}
			policy, ok := sch.ApprovalPolicy(r.Resource.Type, r.Relation)
			if !ok {
				return false, nil
			}
			e, err := Eligible(ctx, c, tenant, snap.Revision(), policy, r, approver, false)
			return e.Party != 0, err
		})
}

// list pages through the records rq selects, keeping those keep accepts, until
// limit are kept or, when scan > 0, scan records were examined.
func list(ctx context.Context, snap datastore.Reader, rq datastore.RecordQuery, limit, scan int, keep func(*AccessRequest) (bool, error)) (Page, error) {
	var page Page
	examined := 0
	for rec, err := range snap.ListRecords(ctx, Kind, rq) {
		if err != nil {
			return Page{}, err
		}
		r, err := Decode(rec)
		if err != nil {
			return Page{}, err
		}
		examined++
		ok, err := keep(&r)
		if err != nil {
			return Page{}, err
		}
		if ok {
			if len(page.Requests) == limit {
				page.Next = page.Requests[limit-1].ID
				return page, nil
			}
			page.Requests = append(page.Requests, r)
		}
		if scan > 0 && examined >= scan {
			page.Next = r.ID
			return page, nil
		}
	}
	return page, nil
}

package datastore

import (
	"context"
	"iter"
	"slices"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Decision is one permission decision the server answered: a Check, one item of a
// CheckBulk, or a lookup. The decision log keeps them as evidence of who was
// allowed what, apart from the audit trail of writes.
type Decision struct {
	Time time.Time `json:"time"`
	// Seq orders decisions recorded at the same instant; the store assigns it.
	Seq uint64 `json:"seq,omitempty"`
	// Principal is the name of the API key that asked.
	Principal string `json:"principal,omitempty"`
	Tenant    string `json:"tenant"`
	// Operation is "check", "check_bulk", "lookup_resources" or "lookup_subjects".
	Operation string `json:"operation"`
	// Resource is the object checked; for lookup_resources only its type is set.
	Resource   tuple.ObjectRef  `json:"resource"`
	Permission string           `json:"permission"`
	Subject    tuple.SubjectRef `json:"subject"`
	// Result is "allowed", "denied" or "conditional"; a lookup records "allowed" when
	// it found anything, with the count in Results.
	Result   string   `json:"result"`
	Results  int      `json:"results,omitempty"`
	Revision Revision `json:"revision"`
	// Path is the relationships, in text form, on the path that granted an allowed
	// check, when the check computed an explanation.
	Path []string `json:"path,omitempty"`
}

// DecisionFilter selects decisions. Zero fields match everything. Results come
// newest first.
type DecisionFilter struct {
	// Tenants are the tenants to read (at least one).
	Tenants []string
	// Subject matches the subject object (ID "" means any object of the type).
	Subject *tuple.ObjectRef
	// Resource matches the resource (ID "" means any object of the type).
	Resource *tuple.ObjectRef
	// Permission matches the permission name.
	Permission string
	// Result matches the result ("allowed", "denied", "conditional").
	Result string
	// Since and Until bound the time: Since <= time < Until.
	Since, Until time.Time
	// Before returns only decisions older than this one (a page cursor): earlier in
	// time, or at the same time with a lower tenant-ordered position.
	Before *DecisionCursor
	// Limit is the most decisions to return; 0 means no limit.
	Limit int
}

// DecisionCursor is the position of a decision in the newest-first order of a
// decision read: time, then tenant name, then sequence, all descending except the
// tenant name.
type DecisionCursor struct {
	Time   time.Time
	Tenant string
	Seq    uint64
}

// After reports whether d comes after the cursor in newest-first order.
func (c DecisionCursor) After(d *Decision) bool {
	if !d.Time.Equal(c.Time) {
		return d.Time.Before(c.Time)
	}
	if d.Tenant != c.Tenant {
		return d.Tenant > c.Tenant
	}
	return d.Seq < c.Seq
}

// Matches reports whether a decision passes the filter.
func (f DecisionFilter) Matches(d *Decision) bool {
	if len(f.Tenants) > 0 && !slices.Contains(f.Tenants, d.Tenant) {
		return false
	}
	if f.Before != nil && !f.Before.After(d) {
		return false
	}
	if !f.Since.IsZero() && d.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !d.Time.Before(f.Until) {
		return false
	}
	if f.Subject != nil && !objectMatches(*f.Subject, d.Subject.Object()) {
		return false
	}
	if f.Resource != nil && (f.Resource.Type != d.Resource.Type || (f.Resource.ID != "" && f.Resource.ID != d.Resource.ID)) {
		return false
	}
	if f.Permission != "" && d.Permission != f.Permission {
		return false
	}
	if f.Result != "" && d.Result != f.Result {
		return false
	}
	return true
}

// NewerDecision reports whether a comes before b in the newest-first order of
// decision reads.
func NewerDecision(a, b *Decision) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	if a.Tenant != b.Tenant {
		return a.Tenant < b.Tenant
	}
	return a.Seq > b.Seq
}

// DecisionStore keeps the decision log. The durable stores and the memory store
// implement it beside Datastore; it is written only by the decision log's writer.
type DecisionStore interface {
	// WriteDecisions stores a batch of decisions, assigning each its Seq.
	WriteDecisions(ctx context.Context, ds []Decision) error
	// ReadDecisions yields the decisions matching the filter, newest first.
	ReadDecisions(ctx context.Context, f DecisionFilter) iter.Seq2[Decision, error]
	// DeleteDecisionsBefore removes the decisions older than t and returns how many.
	DeleteDecisionsBefore(ctx context.Context, t time.Time) (int, error)
}

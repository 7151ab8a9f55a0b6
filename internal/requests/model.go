package requests

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Kind is the record kind of access requests.
const Kind = "access_request"

// State is where a request is in its life.
type State string

// States. Pending is the only state that changes; the others are final.
const (
	Pending   State = "pending"
	Approved  State = "approved"
	Denied    State = "denied"
	Cancelled State = "cancelled"
	Expired   State = "expired"
)

// ParseState returns the state named s.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case Pending, Approved, Denied, Cancelled, Expired:
		return st, nil
	}
	return "", fmt.Errorf("unknown access request state %q (want pending, approved, denied, cancelled or expired): %w", s, datastore.ErrInvalidArgument)
}

// Approval is one party's approval of a request.
type Approval struct {
	Approver tuple.SubjectRef
	// Party is the number of the policy's party approved for, from 1.
	Party  int
	Reason string
	At     time.Time
	// Duration is the most the approver gives (zero: as much as the policy allows).
	Duration time.Duration
	// AuthorityUntil is when the approver's own authority ends, when it rests on
	// expiring relationships and the policy is time-bounded: the grant ends by then.
	AuthorityUntil time.Time
}

// AccessRequest is one request for resource#relation@subject.
type AccessRequest struct {
	ID       string
	Resource tuple.ObjectRef
	Relation string
	Subject  tuple.SubjectRef
	// Requester is the acting subject who made the request: the subject itself, or
	// an admin of the requester organisation asking for one of its people.
	Requester tuple.SubjectRef
	// Organization is the requester's organisation, for a policy with a requester
	// binding ("requester in organization#active_member"), else nil.
	Organization *tuple.ObjectRef
	Reason       string
	// Duration is the requested lifetime of the grant (zero: as long as allowed).
	Duration  time.Duration
	State     State
	Approvals []Approval
	// DecidedBy, DecisionReason and DecidedAt are set when the request leaves
	// Pending (DecidedBy is nil for an expiry).
	DecidedBy      *tuple.SubjectRef
	DecisionReason string
	CreatedAt      time.Time
	DecidedAt      time.Time
	ExpiresAt      time.Time
	// GrantExpiration is the expiry of the relationship an approval wrote (zero: none).
	GrantExpiration time.Time
	// Revision is the revision the request was last written at (set on reads).
	Revision datastore.Revision
}

// Relationship is the relationship the request asks for, without expiry.
func (r *AccessRequest) Relationship() tuple.Relationship {
	return tuple.Relationship{Resource: r.Resource, Relation: r.Relation, Subject: r.Subject}
}

// StateAt is the request's state at time now: a pending request past its expiry
// is expired, stored so or not.
func (r *AccessRequest) StateAt(now time.Time) State {
	if r.State == Pending && !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		return Expired
	}
	return r.State
}

// ApprovedBy returns the party approver approved the request for, or 0.
func (r *AccessRequest) ApprovedBy(approver tuple.SubjectRef) int {
	for _, a := range r.Approvals {
		if a.Approver == approver {
			return a.Party
		}
	}
	return 0
}

// partyApproved reports whether party (from 1) has an approval.
func (r *AccessRequest) partyApproved(party int) bool {
	for _, a := range r.Approvals {
		if a.Party == party {
			return true
		}
	}
	return false
}

// NewID returns a fresh request id: 12 hex digits of the time in milliseconds and
// 20 random ones, so ids sort by creation time and cannot be guessed.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err)) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b[:])
}

// Keys of request records. Values that could pass the store's key bound are hashed.
const (
	keyState        = "state="
	keyDedup        = "dedup="
	keyRequester    = "requester="
	keyResourceType = "resource-type="
	keyOrg          = "org="
)

func key(prefix, value string) string {
	if len(prefix)+len(value) > datastore.MaxRecordKeyLen {
		sum := sha256.Sum256([]byte(value))
		return prefix + "sha256:" + hex.EncodeToString(sum[:])
	}
	return prefix + value
}

// StateKey is the record key of requests stored in state s.
func StateKey(s State) string { return key(keyState, string(s)) }

// DedupKey is the key a pending request for rel holds, so duplicates are found.
func DedupKey(rel tuple.Relationship) string {
	sum := sha256.Sum256([]byte(rel.Key().String()))
	return keyDedup + hex.EncodeToString(sum[:])
}

// RequesterKey is the key of the requests requester made.
func RequesterKey(requester tuple.SubjectRef) string { return key(keyRequester, requester.String()) }

func (r *AccessRequest) keys() []string {
	keys := []string{StateKey(r.State), RequesterKey(r.Requester), key(keyResourceType, r.Resource.Type)}
	if r.State == Pending {
		keys = append(keys, DedupKey(r.Relationship()))
	}
	if r.Organization != nil {
		keys = append(keys, key(keyOrg, r.Organization.String()))
	}
	return keys
}

// stored is a request's encoding in its record.
type stored struct {
	Resource        string           `json:"resource"`
	Relation        string           `json:"relation"`
	Subject         string           `json:"subject"`
	Requester       string           `json:"requester"`
	Organization    string           `json:"organization,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	Duration        string           `json:"duration,omitempty"`
	State           State            `json:"state"`
	Approvals       []storedApproval `json:"approvals,omitempty"`
	DecidedBy       string           `json:"decided_by,omitempty"`
	DecisionReason  string           `json:"decision_reason,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
	DecidedAt       *time.Time       `json:"decided_at,omitempty"`
	ExpiresAt       time.Time        `json:"expires_at"`
	GrantExpiration *time.Time       `json:"grant_expiration,omitempty"`
}

type storedApproval struct {
	Approver       string     `json:"approver"`
	Party          int        `json:"party"`
	Reason         string     `json:"reason,omitempty"`
	At             time.Time  `json:"at"`
	Duration       string     `json:"duration,omitempty"`
	AuthorityUntil *time.Time `json:"authority_until,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func optDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// Record encodes the request as its datastore record.
func (r *AccessRequest) Record() (datastore.Record, error) {
	s := stored{
		Resource: r.Resource.String(), Relation: r.Relation, Subject: r.Subject.String(),
		Requester: r.Requester.String(), Reason: r.Reason, Duration: optDuration(r.Duration),
		State: r.State, DecisionReason: r.DecisionReason, CreatedAt: r.CreatedAt.UTC(),
		DecidedAt: optTime(r.DecidedAt), ExpiresAt: r.ExpiresAt.UTC(), GrantExpiration: optTime(r.GrantExpiration),
	}
	if r.Organization != nil {
		s.Organization = r.Organization.String()
	}
	if r.DecidedBy != nil {
		s.DecidedBy = r.DecidedBy.String()
	}
	for _, a := range r.Approvals {
		s.Approvals = append(s.Approvals, storedApproval{Approver: a.Approver.String(), Party: a.Party, Reason: a.Reason,
			At: a.At.UTC(), Duration: optDuration(a.Duration), AuthorityUntil: optTime(a.AuthorityUntil)})
	}
	data, err := json.Marshal(s)
	if err != nil {
		return datastore.Record{}, fmt.Errorf("encoding access request %s: %w", r.ID, err)
	}
	return datastore.Record{Kind: Kind, ID: r.ID, Data: data, Keys: r.keys()}, nil
}

// Decode reads a request from its record.
func Decode(rec datastore.Record) (AccessRequest, error) {
	var s stored
	if err := json.Unmarshal(rec.Data, &s); err != nil {
		return AccessRequest{}, fmt.Errorf("decoding access request %s: %w", rec.ID, err)
	}
	d := decoder{id: rec.ID}
	r := AccessRequest{
		ID: rec.ID, Resource: d.object(s.Resource), Relation: s.Relation, Subject: d.subject(s.Subject),
		Requester: d.subject(s.Requester), Reason: s.Reason, Duration: d.duration(s.Duration), State: s.State,
		DecisionReason: s.DecisionReason, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Revision: rec.Revision,
	}
	if s.Organization != "" {
		o := d.object(s.Organization)
		r.Organization = &o
	}
	if s.DecidedBy != "" {
		by := d.subject(s.DecidedBy)
		r.DecidedBy = &by
	}
	if s.DecidedAt != nil {
		r.DecidedAt = *s.DecidedAt
	}
	if s.GrantExpiration != nil {
		r.GrantExpiration = *s.GrantExpiration
	}
	for _, a := range s.Approvals {
		ap := Approval{Approver: d.subject(a.Approver), Party: a.Party, Reason: a.Reason, At: a.At, Duration: d.duration(a.Duration)}
		if a.AuthorityUntil != nil {
			ap.AuthorityUntil = *a.AuthorityUntil
		}
		r.Approvals = append(r.Approvals, ap)
	}
	return r, d.err
}

// decoder keeps the first error of a record's fields.
type decoder struct {
	id  string
	err error
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("decoding access request %s: %s: %w", d.id, field, err)
	}
}

func (d *decoder) object(s string) tuple.ObjectRef {
	o, err := tuple.ParseObject(s)
	if err != nil {
		d.fail("object", err)
	}
	return o
}

func (d *decoder) subject(s string) tuple.SubjectRef {
	sub, err := tuple.ParseSubject(s)
	if err != nil {
		d.fail("subject", err)
	}
	return sub
}

func (d *decoder) duration(s string) time.Duration {
	if s == "" {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.fail("duration", err)
	}
	return v
}

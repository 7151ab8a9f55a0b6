package requests

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	org := tuple.ObjectRef{Type: "organization", ID: "globex"}
	by := tuple.SubjectRef{Type: "user", ID: "gina"}
	r := AccessRequest{
		ID: NewID(at), Resource: tuple.ObjectRef{Type: "project", ID: "apollo"}, Relation: "partner_viewer",
		Subject: tuple.SubjectRef{Type: "user", ID: "pat"}, Requester: tuple.SubjectRef{Type: "user", ID: "pat"},
		Organization: &org, Reason: "review", Duration: 48 * time.Hour, State: Approved,
		Approvals: []Approval{{Approver: by, Party: 2, Reason: "ok", At: at, Duration: time.Hour, AuthorityUntil: at.Add(time.Hour)}},
		DecidedBy: &by, DecisionReason: "ok", CreatedAt: at, DecidedAt: at, ExpiresAt: at.Add(time.Hour), GrantExpiration: at.Add(time.Hour),
	}
	rec, err := r.Record()
	if err != nil {
		t.Fatal(err)
	}
	if err := datastore.ValidateRecord(rec); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(rec.Keys[0], "state=approved") {
		t.Errorf("keys %v", rec.Keys)
	}
	for _, k := range rec.Keys {
		if strings.HasPrefix(k, keyDedup) {
			t.Errorf("a decided request keeps its dedup key: %v", rec.Keys)
		}
	}
}

func TestLongKeysAreHashed(t *testing.T) {
	long := tuple.SubjectRef{Type: "user", ID: strings.Repeat("x", 1000)}
	if k := RequesterKey(long); len(k) > datastore.MaxRecordKeyLen || !strings.Contains(k, "sha256:") {
		t.Errorf("key of %d bytes: %.80s", len(k), k)
	}
}

func TestIDsSortByTime(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := NewID(at), NewID(at.Add(time.Millisecond))
	if a >= b || len(a) != 32 {
		t.Errorf("ids %s, %s", a, b)
	}
}

func TestStateAt(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r := AccessRequest{State: Pending, ExpiresAt: at}
	if r.StateAt(at.Add(-time.Second)) != Pending || r.StateAt(at) != Expired {
		t.Error("a pending request reads as expired from its expiry on")
	}
	if _, err := ParseState("bogus"); err == nil {
		t.Error("bogus state parsed")
	}
}

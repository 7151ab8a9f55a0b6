package write

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/tuple"
)

const day = 24 * time.Hour

// The partner story: a partner employee asks, the project's organisation and the
// partner both approve, and the grant is written with the approval in one
// transaction whose audit record carries the request.
func TestAccessRequestNeedsEveryParty(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		r, created, err := f.w.CreateAccessRequest(ctx, as("user:pat", "quarterly review"), partnerRequest("user:pat", 30*day))
		if err != nil || !created || r.State != requests.Pending {
			t.Fatalf("create: %+v %v %v", r, created, err)
		}
		again, created, err := f.w.CreateAccessRequest(ctx, as("user:pat", "again"), partnerRequest("user:pat", 10*day))
		if err != nil || created || again.ID != r.ID {
			t.Fatalf("a duplicate pending request should collapse into %s: got %s created=%v %v", r.ID, again.ID, created, err)
		}

		_, err = f.w.ApproveAccessRequest(ctx, as("user:pat", "me"), r.ID, 0)
		wantKind(t, "pat approving his own request", err, datastore.ErrPermissionDenied)
		_, err = f.w.ApproveAccessRequest(ctx, as("user:quinn", "colleague"), r.ID, 0)
		wantKind(t, "quinn, who is no approver", err, datastore.ErrPermissionDenied)
		_, err = f.w.ApproveAccessRequest(ctx, as("user:eve", "too long"), r.ID, 91*day)
		wantKind(t, "an approval beyond the 90 days", err, datastore.ErrInvalidArgument)

		one, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "fine by acme"), r.ID, 0)
		if err != nil || one.State != requests.Pending || len(one.Approvals) != 1 || one.Approvals[0].Party != 1 {
			t.Fatalf("eve's approval: %+v %v", one, err)
		}
		if f.relationship("project:apollo", "partner_viewer", "user:pat") != nil {
			t.Fatal("one party's approval granted access")
		}
		_, err = f.w.ApproveAccessRequest(ctx, as("user:eve", "twice"), r.ID, 0)
		wantKind(t, "eve approving a second party", err, datastore.ErrPermissionDenied)
		_, err = f.w.ApproveAccessRequest(ctx, as("user:root", "acme too"), r.ID, 0)
		wantKind(t, "root, who holds only the party eve approved", err, datastore.ErrPermissionDenied)

		f.now = f.now.Add(time.Hour)
		done, err := f.w.ApproveAccessRequest(ctx, as("user:gina", "globex agrees"), r.ID, 20*day)
		if err != nil || done.State != requests.Approved || done.DecidedBy.String() != "user:gina" {
			t.Fatalf("gina's approval: %+v %v", done, err)
		}
		rel := f.relationship("project:apollo", "partner_viewer", "user:pat")
		if rel == nil {
			t.Fatal("the approved request wrote no relationship")
		}
		if want := f.now.Add(20 * day); !rel.Expiration.Equal(want) || !done.GrantExpiration.Equal(want) {
			t.Errorf("grant expires %s (request says %s), want %s: the shortest duration given", rel.Expiration, done.GrantExpiration, want)
		}
		if rel.Granted == nil || rel.Granted.By.String() != "user:gina" || rel.Granted.Via.String() != "organization:globex" {
			t.Errorf("grant recorded as %+v, want by user:gina via organization:globex", rel.Granted)
		}

		// The audit record of the grant holds the request: requester, approvers, reasons.
		tx := f.transactionAt(done.Revision)
		if tx.Metadata.Operation != "request.approve" || tx.Metadata.Actor.String() != "user:gina" || tx.Metadata.Reason != "globex agrees" {
			t.Errorf("audit metadata %+v", tx.Metadata)
		}
		if len(tx.Changes) != 1 || len(tx.RecordChanges) != 1 || tx.RecordChanges[0].Record.ID != r.ID {
			t.Fatalf("the grant and the request should commit together: %+v", tx)
		}
		audited, err := requests.Decode(tx.RecordChanges[0].Record)
		if err != nil {
			t.Fatal(err)
		}
		if audited.Requester.String() != "user:pat" || audited.Reason != "quarterly review" || len(audited.Approvals) != 2 ||
			audited.Approvals[0].Reason != "fine by acme" || audited.Approvals[1].Approver.String() != "user:gina" {
			t.Errorf("audited request %+v", audited)
		}
		if len(tx.Metadata.Grants) != 1 || !strings.HasPrefix(tx.Metadata.Grants[0].Rule, "approve partner_viewer") {
			t.Errorf("grant records %+v", tx.Metadata.Grants)
		}

		// Replaying it is refused and recorded.
		_, err = f.w.ApproveAccessRequest(ctx, as("user:eve", "replay"), r.ID, 0)
		wantKind(t, "replaying an approved request", err, datastore.ErrFailedPrecondition)
		if !strings.Contains(err.Error(), "approved") {
			t.Errorf("replay error %q should say the request is approved", err)
		}
		if d := f.denials(tuple.DefaultTenant, "user:eve"); len(d) != 3 || !strings.Contains(strings.Join(d, "\n"), r.ID) {
			t.Errorf("eve's refusals in the audit trail: %q", d)
		}
	})
}

func (f *reqFixture) transactionAt(rev datastore.Revision) *datastore.Transaction {
	f.t.Helper()
	for tx, err := range f.ds.ReadTransactions(context.Background(), tuple.DefaultTenant, datastore.TransactionFilter{Before: rev + 1, Limit: 1}) {
		if err != nil {
			f.t.Fatal(err)
		}
		if tx.Revision == rev {
			return tx
		}
	}
	f.t.Fatalf("no transaction at revision %d", rev)
	return nil
}

func TestCreatingAnAccessRequestIsChecked(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		cases := []struct {
			name string
			by   string
			in   NewAccessRequest
			kind error
			says string
		}{
			{"no policy", "user:pat", NewAccessRequest{Resource: *obj("organization:globex"), Relation: "parent", Subject: *actor("user:pat")},
				datastore.ErrInvalidArgument, "organization"},
			{"no grant or approval rule", "user:pat", NewAccessRequest{Resource: *obj("project:apollo"), Relation: "owner", Subject: tuple.SubjectRef{Type: "organization", ID: "globex"}},
				datastore.ErrFailedPrecondition, "project#owner has neither a grant rule nor an approval rule"},
			{"beyond the bound", "user:pat", partnerRequest("user:pat", 91*day), datastore.ErrInvalidArgument, "exceeds the 90d"},
			{"no organisation", "user:pat", NewAccessRequest{Resource: *obj("project:apollo"), Relation: "partner_viewer", Subject: *actor("user:pat")},
				datastore.ErrInvalidArgument, "needs the requester's organisation"},
			{"organisation not needed", "user:pat", NewAccessRequest{Resource: *obj("project:apollo"), Relation: "viewer", Subject: *actor("user:pat"), Organization: obj("organization:globex")},
				datastore.ErrInvalidArgument, "does not bind"},
			{"not a member", "user:zed", partnerRequest("user:zed", 0), datastore.ErrFailedPrecondition, "user:zed is not in organization:globex#active_member"},
			{"for someone else", "user:quinn", partnerRequest("user:pat", 0), datastore.ErrPermissionDenied, "user:quinn may not request"},
			{"a wildcard", "user:pat", viewerRequest("user:*"), datastore.ErrInvalidArgument, "wildcard"},
			{"negative duration", "user:pat", partnerRequest("user:pat", -day), datastore.ErrInvalidArgument, "negative"},
		}
		for _, c := range cases {
			_, _, err := f.w.CreateAccessRequest(ctx, as(c.by, c.name), c.in)
			wantKind(t, c.name, err, c.kind)
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("%s: error %q should say %q", c.name, err, c.says)
			}
		}
		if _, _, err := f.w.CreateAccessRequest(ctx, Request{Tenant: tuple.DefaultTenant, Principal: "portal"}, viewerRequest("user:pat")); err == nil {
			t.Error("a request without an acting subject was accepted")
		}
		// A partner admin may ask for one of its own people.
		r, _, err := f.w.CreateAccessRequest(ctx, as("user:gina", "for pat"), partnerRequest("user:pat", 0))
		if err != nil || r.Requester.String() != "user:gina" || r.Subject.String() != "user:pat" {
			t.Fatalf("gina asking for pat: %+v %v", r, err)
		}
	})
}

func TestDenyAndCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		r := f.create("user:pat", viewerRequest("user:pat"))
		_, err := f.w.DenyAccessRequest(ctx, as("user:quinn", "no"), r.ID)
		wantKind(t, "quinn denying", err, datastore.ErrPermissionDenied)
		_, err = f.w.CancelAccessRequest(ctx, as("user:eve", "no"), r.ID)
		wantKind(t, "eve cancelling pat's request", err, datastore.ErrPermissionDenied)
		denied, err := f.w.DenyAccessRequest(ctx, as("user:eve", "not needed"), r.ID)
		if err != nil || denied.State != requests.Denied || denied.DecisionReason != "not needed" {
			t.Fatalf("eve denying: %+v %v", denied, err)
		}
		_, err = f.w.CancelAccessRequest(ctx, as("user:pat", "late"), r.ID)
		wantKind(t, "cancelling a denied request", err, datastore.ErrFailedPrecondition)

		// A new request is possible once the old one is decided.
		r2 := f.create("user:pat", viewerRequest("user:pat"))
		if r2.ID == r.ID {
			t.Fatal("a decided request was reused")
		}
		if c, err := f.w.CancelAccessRequest(ctx, as("user:pat", "never mind"), r2.ID); err != nil || c.State != requests.Cancelled {
			t.Fatalf("pat cancelling: %+v %v", c, err)
		}
		_, err = f.w.ApproveAccessRequest(ctx, as("user:eve", "late"), r2.ID, 0)
		wantKind(t, "approving a cancelled request", err, datastore.ErrFailedPrecondition)
		if f.relationship("project:apollo", "viewer", "user:pat") != nil {
			t.Fatal("a cancelled request was granted")
		}
	})
}

func TestPendingRequestsExpire(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		r := f.create("user:pat", viewerRequest("user:pat"))
		f.now = f.now.Add(49 * time.Hour)
		if got := f.stored(r.ID); got.StateAt(f.now) != requests.Expired {
			t.Fatalf("state after the TTL: %s", got.StateAt(f.now))
		}
		_, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "late"), r.ID, 0)
		wantKind(t, "approving an expired request", err, datastore.ErrFailedPrecondition)
		if got := f.stored(r.ID); got.State != requests.Expired {
			t.Fatalf("the expiry was not stored: %s", got.State)
		}
		if f.relationship("project:apollo", "viewer", "user:pat") != nil {
			t.Fatal("an expired request was granted")
		}
		if r2 := f.create("user:pat", viewerRequest("user:pat")); r2.ID == r.ID {
			t.Fatal("an expired request absorbed a new one")
		}
	})
}

func TestUnknownRequestsAndOtherTenants(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		r := f.create("user:pat", viewerRequest("user:pat"))
		_, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "x"), "nosuchrequest", 0)
		wantKind(t, "an unknown id", err, datastore.ErrNotFound)
		if err := f.ds.CreateTenant(ctx, "other"); err != nil {
			t.Fatal(err)
		}
		other := as("user:eve", "cross-tenant")
		other.Tenant = "other"
		_, err = f.w.ApproveAccessRequest(ctx, other, r.ID, 0)
		wantKind(t, "approving in another tenant", err, datastore.ErrNotFound)
		if d := f.denials("other", "user:eve"); len(d) != 1 || !strings.Contains(d[0], r.ID) {
			t.Errorf("the cross-tenant attempt should be audited in that tenant: %q", d)
		}
		if got := f.stored(r.ID); got.State != requests.Pending {
			t.Fatalf("request changed by another tenant's call: %s", got.State)
		}
	})
}

// An approval never shortens what the subject already holds: a permanent or longer
// relationship with the same key stays as it is, provenance included; a shorter one
// is extended by the grant.
func TestApprovalKeepsWhatIsAlreadyHeld(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		f.admin("project:apollo#viewer@user:quinn")
		r := f.create("user:quinn", viewerRequest("user:quinn"))
		done, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "fine"), r.ID, 7*day)
		if err != nil || done.State != requests.Approved {
			t.Fatalf("approval: %+v %v", done, err)
		}
		rel := f.relationship("project:apollo", "viewer", "user:quinn")
		if rel == nil || rel.HasExpiration() || rel.Granted != nil {
			t.Fatalf("the permanent relationship became %v: an approval must not shorten it", rel)
		}
		if !done.GrantExpiration.IsZero() {
			t.Errorf("the request says the grant expires %s; what is held does not expire", done.GrantExpiration)
		}

		// A shorter relationship is extended, and recorded as the approved grant.
		f.admin("project:apollo#viewer@user:rae[expiration:" + f.now.Add(day).UTC().Format(time.RFC3339) + "]")
		r = f.create("user:rae", viewerRequest("user:rae"))
		done, err = f.w.ApproveAccessRequest(ctx, as("user:eve", "longer"), r.ID, 7*day)
		if err != nil || done.State != requests.Approved {
			t.Fatalf("approval: %+v %v", done, err)
		}
		rel = f.relationship("project:apollo", "viewer", "user:rae")
		if want := f.now.Add(7 * day); rel == nil || !rel.Expiration.Equal(want) || rel.Granted == nil || rel.Granted.By.String() != "user:eve" {
			t.Fatalf("rae's grant is %v, want one by user:eve expiring %s", rel, want)
		}
	})
}

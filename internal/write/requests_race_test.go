package write

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// race runs the operations at once and returns their errors, in order.
func race(ops ...func() error) []error {
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = op()
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

const raceRounds = 10

// Two approvers of the same party at once: exactly one approval counts.
func TestRaceTwoApproversOfOneParty(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		for i := range raceRounds {
			subject := fmt.Sprintf("user:v%d", i)
			r := f.create(subject, viewerRequest(subject))
			errs := race(
				func() error { _, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "eve"), r.ID, 0); return err },
				func() error { _, err := f.w.ApproveAccessRequest(ctx, as("user:root", "root"), r.ID, 0); return err },
			)
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: want exactly one approval, got %v", i, errs)
			}
			for _, err := range errs {
				if err != nil && !errors.Is(err, datastore.ErrFailedPrecondition) {
					t.Fatalf("round %d: the losing approval should find the request approved: %v", i, err)
				}
			}
			got := f.stored(r.ID)
			if got.State != requests.Approved || len(got.Approvals) != 1 || f.relationship("project:apollo", "viewer", subject) == nil {
				t.Fatalf("round %d: %+v", i, got)
			}
		}
	})
}

// The two parties of a two-party request approving at once: both count, the grant
// is written once.
func TestRaceBothPartiesAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		for i, subject := range []string{"user:pat", "user:quinn", "user:rae"} {
			r := f.create(subject, partnerRequest(subject, 0))
			errs := race(
				func() error { _, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "eve"), r.ID, 0); return err },
				func() error { _, err := f.w.ApproveAccessRequest(ctx, as("user:gina", "gina"), r.ID, 0); return err },
			)
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("round %d: %v", i, errs)
			}
			got := f.stored(r.ID)
			if got.State != requests.Approved || len(got.Approvals) != 2 || got.Approvals[0].Party == got.Approvals[1].Party {
				t.Fatalf("round %d: %+v", i, got)
			}
			if f.relationship("project:apollo", "partner_viewer", subject) == nil {
				t.Fatalf("round %d: no grant", i)
			}
		}
	})
}

// An approver demoted while approving: either the approval committed before the
// demotion, or it is refused; never a grant by someone who had lost the right.
func TestRaceApproverDemoted(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		for i := range raceRounds {
			f.admin("organization:acme-eu#admin@user:eve")
			subject := fmt.Sprintf("user:d%d", i)
			r := f.create(subject, viewerRequest(subject))
			var approved, demoted datastore.Revision
			errs := race(
				func() error {
					a, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "eve"), r.ID, 0)
					approved = a.Revision
					return err
				},
				func() error {
					rev, err := f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant, Principal: "admin-key"},
						updates(datastore.OpDelete, "organization:acme-eu#admin@user:eve"), nil)
					demoted = rev
					return err
				},
			)
			if errs[1] != nil {
				t.Fatal(errs[1])
			}
			granted := f.relationship("project:apollo", "viewer", subject) != nil
			state := f.stored(r.ID).State
			switch {
			case errs[0] == nil && granted && state == requests.Approved && approved < demoted:
			case errors.Is(errs[0], datastore.ErrPermissionDenied) && !granted && state == requests.Pending:
			default:
				t.Fatalf("round %d: approve %v (rev %d), demotion rev %d, granted %v, state %s", i, errs[0], approved, demoted, granted, state)
			}
		}
	})
}

// A cancel racing an approval: exactly one wins, and the grant exists exactly when
// the approval won.
func TestRaceCancelAndApprove(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		for i := range raceRounds {
			subject := fmt.Sprintf("user:c%d", i)
			r := f.create(subject, viewerRequest(subject))
			errs := race(
				func() error { _, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "eve"), r.ID, 0); return err },
				func() error { _, err := f.w.CancelAccessRequest(ctx, as(subject, "changed my mind"), r.ID); return err },
			)
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: want exactly one outcome, got %v", i, errs)
			}
			granted := f.relationship("project:apollo", "viewer", subject) != nil
			state := f.stored(r.ID).State
			if errs[0] == nil && (!granted || state != requests.Approved) || errs[1] == nil && (granted || state != requests.Cancelled) {
				t.Fatalf("round %d: errors %v, granted %v, state %s", i, errs, granted, state)
			}
		}
	})
}

package write

import (
	"context"
	"testing"

	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func (f *reqFixture) inbox(approver string, q requests.Query) requests.Page {
	f.t.Helper()
	ctx := context.Background()
	head, err := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	if err != nil {
		f.t.Fatal(err)
	}
	p, err := requests.ListInbox(ctx, f.eng, tuple.DefaultTenant, f.ds.SnapshotReader(tuple.DefaultTenant, head), *actor(approver), q, f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func ids(p requests.Page) []string {
	var out []string
	for _, r := range p.Requests {
		out = append(out, r.ID)
	}
	return out
}

func TestInboxAndMyRequests(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		pat := f.create("user:pat", partnerRequest("user:pat", 0))
		quinn := f.create("user:quinn", partnerRequest("user:quinn", 0))
		viewer := f.create("user:rae", viewerRequest("user:rae"))

		if got := ids(f.inbox("user:eve", requests.Query{})); len(got) != 3 {
			t.Fatalf("eve's inbox: %v", got)
		}
		if got := ids(f.inbox("user:gina", requests.Query{})); len(got) != 2 || got[0] != pat.ID || got[1] != quinn.ID {
			t.Fatalf("gina's inbox (partner requests only): %v", got)
		}
		if got := ids(f.inbox("user:pat", requests.Query{})); len(got) != 0 {
			t.Fatalf("pat approves nothing: %v", got)
		}
		if got := ids(f.inbox("user:eve", requests.Query{Organization: obj("organization:globex")})); len(got) != 2 {
			t.Fatalf("eve's inbox for globex: %v", got)
		}
		if got := ids(f.inbox("user:eve", requests.Query{ResourceType: "document"})); len(got) != 0 {
			t.Fatalf("eve's inbox for documents: %v", got)
		}
		// Pages of one, resumed by cursor, cover the inbox once.
		var all []string
		q := requests.Query{Limit: 1}
		for range 5 {
			p := f.inbox("user:eve", q)
			all = append(all, ids(p)...)
			if p.Next == "" {
				break
			}
			q.After = p.Next
		}
		if len(all) != 3 || all[0] != pat.ID || all[2] != viewer.ID {
			t.Fatalf("paged inbox: %v", all)
		}
		// Once eve approved her party, the request leaves her inbox, not gina's.
		if _, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "ok"), pat.ID, 0); err != nil {
			t.Fatal(err)
		}
		if got := ids(f.inbox("user:eve", requests.Query{})); len(got) != 2 {
			t.Fatalf("eve's inbox after approving: %v", got)
		}
		if got := ids(f.inbox("user:gina", requests.Query{})); len(got) != 2 {
			t.Fatalf("gina's inbox after eve approved: %v", got)
		}

		head, _ := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
		snap := f.ds.SnapshotReader(tuple.DefaultTenant, head)
		mine, err := requests.ListMine(ctx, snap, *actor("user:pat"), requests.Query{}, f.now)
		if err != nil || len(mine.Requests) != 1 || mine.Requests[0].ID != pat.ID || len(mine.Requests[0].Approvals) != 1 {
			t.Fatalf("pat's requests: %+v %v", mine, err)
		}
		if _, err := requests.ListInbox(ctx, f.eng, tuple.DefaultTenant, snap, *actor("user:eve"), requests.Query{State: requests.Approved}, f.now); err == nil {
			t.Error("the inbox accepted a state other than pending")
		}
		mine, err = requests.ListMine(ctx, snap, *actor("user:rae"), requests.Query{State: requests.Approved}, f.now)
		if err != nil || len(mine.Requests) != 0 {
			t.Fatalf("rae's approved requests: %+v %v", mine, err)
		}
	})
}

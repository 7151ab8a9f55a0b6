package write

import (
	"context"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// DeleteEndedGrant deletes a grant only when, at the snapshot its delete commits on,
// the grant is stored as it was read and has still ended: a grant re-made by another
// grantor, or one whose condition holds again, stays.
func TestDeleteEndedGrant(t *testing.T) {
	eachStore(t, func(t *testing.T, f *reqFixture) {
		ctx := context.Background()
		in30d := f.now.Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
		grant := "project:apollo#partner_viewer@user:pat[granted:user:gina@organization:globex][expiration:" + in30d + "]"
		f.importRel(grant)
		read := *f.relationship("project:apollo", "partner_viewer", "user:pat")
		req := Request{Tenant: tuple.DefaultTenant, Principal: "grant-sweeper", Reason: "observed"}
		calls := 0
		endedAt := func(cause string) func(context.Context, datastore.Revision) (string, error) {
			return func(context.Context, datastore.Revision) (string, error) { calls++; return cause, nil }
		}

		// Re-made by another grantor since it was read: left alone, conditions not asked.
		f.importRel("project:apollo#partner_viewer@user:pat[granted:user:root@organization:globex][expiration:" + in30d + "]")
		if _, deleted, err := f.w.DeleteEndedGrant(ctx, req, read, endedAt("gone")); err != nil || deleted || calls != 0 {
			t.Fatalf("a re-made grant: deleted=%v calls=%d err=%v", deleted, calls, err)
		}
		if r := f.relationship("project:apollo", "partner_viewer", "user:pat"); r == nil || r.Granted.By.String() != "user:root" {
			t.Fatalf("the re-made grant is %v", r)
		}

		// As read, but its conditions hold again: left alone.
		f.importRel(grant)
		read = *f.relationship("project:apollo", "partner_viewer", "user:pat")
		if _, deleted, err := f.w.DeleteEndedGrant(ctx, req, read, endedAt("")); err != nil || deleted {
			t.Fatalf("a grant counting again: deleted=%v err=%v", deleted, err)
		}

		// As read and still ended: deleted, with the cause found at the snapshot.
		rev, deleted, err := f.w.DeleteEndedGrant(ctx, req, read, endedAt("grantee user:pat left organization:globex#active_member at revision 9"))
		if err != nil || !deleted {
			t.Fatalf("an ended grant: deleted=%v err=%v", deleted, err)
		}
		if f.relationship("project:apollo", "partner_viewer", "user:pat") != nil {
			t.Fatal("the ended grant is still stored")
		}
		if tx := f.transactionAt(rev); tx.Metadata.Reason != "grantee user:pat left organization:globex#active_member at revision 9" || len(tx.Changes) != 1 {
			t.Errorf("the delete is recorded as %+v", tx)
		}

		// Gone already: nothing to do.
		if _, deleted, err := f.w.DeleteEndedGrant(ctx, req, read, endedAt("gone")); err != nil || deleted {
			t.Fatalf("a deleted grant: deleted=%v err=%v", deleted, err)
		}
	})
}

// importRel writes relationships that carry grant blocks, as only an import may.
func (f *reqFixture) importRel(rels ...string) {
	f.t.Helper()
	seq := func(yield func(tuple.Relationship, error) bool) {
		for _, r := range rels {
			if !yield(tuple.MustParse(r), nil) {
				return
			}
		}
	}
	if _, err := f.w.Import(context.Background(), Request{Tenant: tuple.DefaultTenant, Principal: "admin-key"}, seq); err != nil {
		f.t.Fatal(err)
	}
}

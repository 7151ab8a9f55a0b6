package datastoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

const reqKind = "access_request"

// rec builds a record of reqKind.
func rec(id, data string, keys ...string) datastore.Record {
	return datastore.Record{Kind: reqKind, ID: id, Data: []byte(data), Keys: keys}
}

// putRecords puts records in one transaction of tenant and returns its revision.
func (h *harness) putRecords(tenant string, recs ...datastore.Record) datastore.Revision {
	h.t.Helper()
	return h.mustTx(tenant, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		for _, r := range recs {
			if err := tx.PutRecord(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// listIDs lists records of kind at rev and returns "id=data" for each, in order.
func (h *harness) listIDs(tenant string, rev datastore.Revision, kind string, q datastore.RecordQuery) []string {
	h.t.Helper()
	out := []string{}
	for r, err := range h.ds.SnapshotReader(tenant, rev).ListRecords(h.ctx(), kind, q) {
		if err != nil {
			h.t.Fatalf("ListRecords(%s, %+v) at %d: %v", kind, q, rev, err)
		}
		out = append(out, r.ID+"="+string(r.Data))
	}
	return out
}

// readData reads one record at rev: its data, or "absent".
func (h *harness) readData(tenant string, rev datastore.Revision, kind, id string) string {
	h.t.Helper()
	r, err := h.ds.SnapshotReader(tenant, rev).ReadRecord(h.ctx(), kind, id)
	if errors.Is(err, datastore.ErrRecordNotFound) && errors.Is(err, datastore.ErrNotFound) {
		return "absent"
	}
	if err != nil {
		h.t.Fatalf("ReadRecord(%s, %s) at %d: %v", kind, id, rev, err)
	}
	if r.Kind != kind || r.ID != id {
		h.t.Fatalf("ReadRecord(%s, %s) returned %s/%s", kind, id, r.Kind, r.ID)
	}
	return string(r.Data)
}

func wantList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// testRecords: records are read back at the revision they were written at, listed in
// id order by key, by key prefix or all, resumed after an id, and kept apart by kind.
func testRecords(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	r1 := h.putRecords(def,
		rec("req-2", `{"n":2}`, "state=pending"),
		rec("req-1", `{"n":1}`, "state=pending", "approver-org=organization:acme"),
		rec("req-3", `{"n":3}`, "state=approved", "dedup=ab12"),
		datastore.Record{Kind: "other", ID: "req-1", Data: []byte("x"), Keys: []string{"state=pending"}},
	)
	got, err := h.ds.SnapshotReader(def, r1).ReadRecord(h.ctx(), reqKind, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != `{"n":1}` || got.Revision != r1 || !slices.Equal(got.Keys, []string{"state=pending", "approver-org=organization:acme"}) {
		t.Fatalf("ReadRecord returned %+v, want the record written at %d", got, r1)
	}
	all := []string{`req-1={"n":1}`, `req-2={"n":2}`, `req-3={"n":3}`}
	wantList(t, "all records", h.listIDs(def, r1, reqKind, datastore.RecordQuery{}), all...)
	wantList(t, "by key", h.listIDs(def, r1, reqKind, datastore.RecordQuery{Key: "state=pending"}), all[:2]...)
	wantList(t, "by a key no record has", h.listIDs(def, r1, reqKind, datastore.RecordQuery{Key: "state=pend"}))
	wantList(t, "by prefix", h.listIDs(def, r1, reqKind, datastore.RecordQuery{KeyPrefix: "state="}), all...)
	wantList(t, "by another prefix", h.listIDs(def, r1, reqKind, datastore.RecordQuery{KeyPrefix: "approver-org=organization:"}), all[0])
	wantList(t, "after an id", h.listIDs(def, r1, reqKind, datastore.RecordQuery{AfterID: "req-1"}), all[1:]...)
	wantList(t, "by key after an id", h.listIDs(def, r1, reqKind, datastore.RecordQuery{Key: "state=pending", AfterID: "req-1"}), all[1])
	wantList(t, "another kind", h.listIDs(def, r1, "other", datastore.RecordQuery{}), "req-1=x")
	wantList(t, "an unknown kind", h.listIDs(def, r1, "nothing", datastore.RecordQuery{}))
	// Pages of one, each resuming after the last id, give everything once.
	var paged []string
	after := ""
	for range 10 {
		page := h.listIDs(def, r1, reqKind, datastore.RecordQuery{KeyPrefix: "state=", AfterID: after, Limit: 1})
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after, _, _ = strings.Cut(page[0], "=")
	}
	wantList(t, "pages of one", paged, all...)
	wantList(t, "a limit", h.listIDs(def, r1, reqKind, datastore.RecordQuery{Limit: 2}), all[:2]...)
}

// testRecordHistory: a reader at an older revision sees the older version of a
// record, under its older keys; a deleted record is absent from then on.
func testRecordHistory(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	r1 := h.putRecords(def, rec("req-1", "v1", "state=pending"), rec("req-2", "v1", "state=pending"))
	r2 := h.putRecords(def, rec("req-1", "v2", "state=approved"))
	r3 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.DeleteRecord(ctx, reqKind, "req-2"); err != nil {
			return err
		}
		return tx.DeleteRecord(ctx, reqKind, "never-written") // a no-op
	})
	for _, c := range []struct {
		rev         datastore.Revision
		req1, req2  string
		pending     []string
		approvedIDs []string
	}{
		{r1, "v1", "v1", []string{"req-1=v1", "req-2=v1"}, nil},
		{r2, "v2", "v1", []string{"req-2=v1"}, []string{"req-1=v2"}},
		{r3, "v2", "absent", nil, []string{"req-1=v2"}},
	} {
		if got := h.readData(def, c.rev, reqKind, "req-1"); got != c.req1 {
			t.Errorf("req-1 at %d: %s, want %s", c.rev, got, c.req1)
		}
		if got := h.readData(def, c.rev, reqKind, "req-2"); got != c.req2 {
			t.Errorf("req-2 at %d: %s, want %s", c.rev, got, c.req2)
		}
		wantList(t, fmt.Sprintf("pending at %d", c.rev), h.listIDs(def, c.rev, reqKind, datastore.RecordQuery{Key: "state=pending"}), c.pending...)
		wantList(t, fmt.Sprintf("approved at %d", c.rev), h.listIDs(def, c.rev, reqKind, datastore.RecordQuery{KeyPrefix: "state=appr"}), c.approvedIDs...)
	}
	if got := h.readData(def, r1-1, reqKind, "req-1"); got != "absent" {
		t.Errorf("req-1 before it was written: %s", got)
	}
	// Written again after its deletion, a record is back under its new keys.
	r4 := h.putRecords(def, rec("req-2", "v3", "state=reopened"))
	wantList(t, "after re-creation", h.listIDs(def, r4, reqKind, datastore.RecordQuery{}), "req-1=v2", "req-2=v3")
	wantList(t, "old key after re-creation", h.listIDs(def, r4, reqKind, datastore.RecordQuery{Key: "state=pending"}))
	// A prefix is taken literally: characters a pattern language would treat
	// specially match only themselves.
	r5 := h.putRecords(def, rec("req-5", "p", `tag=a%_\b`), rec("req-6", "p", "tag=axyb"))
	wantList(t, "a prefix with pattern characters", h.listIDs(def, r5, reqKind, datastore.RecordQuery{KeyPrefix: `tag=a%_\`}), "req-5=p")
	wantList(t, "a key with pattern characters", h.listIDs(def, r5, reqKind, datastore.RecordQuery{Key: `tag=a%_\b`}), "req-5=p")
}

// testRecordBounds: a record or a query out of bounds is refused with
// ErrInvalidArgument naming the bound, nothing of it is written, and the transaction
// can go on.
func testRecordBounds(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	many := make([]string, datastore.MaxRecordKeys+1)
	for i := range many {
		many[i] = fmt.Sprintf("k=%d", i)
	}
	bad := []struct {
		r    datastore.Record
		want string
	}{
		{datastore.Record{Kind: reqKind, ID: "big", Data: make([]byte, datastore.MaxRecordData+1)}, "65536 bytes"},
		{datastore.Record{Kind: reqKind, ID: "keys", Keys: many}, "16"},
		{datastore.Record{Kind: reqKind, ID: "long", Keys: []string{strings.Repeat("k", datastore.MaxRecordKeyLen+1)}}, "512"},
		{datastore.Record{Kind: reqKind, ID: "empty", Keys: []string{""}}, "key 0 is empty"},
		{datastore.Record{Kind: "", ID: "x"}, "kind is empty"},
		{datastore.Record{Kind: reqKind, ID: ""}, "id is empty"},
		{datastore.Record{Kind: reqKind, ID: "nul\x00"}, "NUL"},
		{datastore.Record{Kind: reqKind, ID: "x", Keys: []string{"bad\xff"}}, "UTF-8"},
	}
	rev := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		for _, b := range bad {
			err := tx.PutRecord(ctx, b.r)
			if !errors.Is(err, datastore.ErrInvalidArgument) || !strings.Contains(err.Error(), b.want) {
				t.Errorf("PutRecord(%s/%q): %v, want ErrInvalidArgument naming %q", b.r.Kind, b.r.ID, err, b.want)
			}
		}
		if err := tx.DeleteRecord(ctx, "", "x"); !errors.Is(err, datastore.ErrInvalidArgument) {
			t.Errorf("DeleteRecord with no kind: %v", err)
		}
		// Exactly at the bounds is fine.
		keys := slices.Clone(many[:datastore.MaxRecordKeys])
		keys[0] = strings.Repeat("k", datastore.MaxRecordKeyLen)
		return tx.PutRecord(ctx, datastore.Record{Kind: reqKind, ID: "max", Data: make([]byte, datastore.MaxRecordData), Keys: keys})
	})
	wantList(t, "after the refusals", h.listIDs(def, rev, reqKind, datastore.RecordQuery{KeyPrefix: "k"}), "max="+string(make([]byte, datastore.MaxRecordData)))
	for _, q := range []datastore.RecordQuery{{Key: "a", KeyPrefix: "b"}, {Limit: -1}, {Key: strings.Repeat("k", datastore.MaxRecordKeyLen+1)}} {
		for _, err := range h.ds.SnapshotReader(def, rev).ListRecords(h.ctx(), reqKind, q) {
			if !errors.Is(err, datastore.ErrInvalidArgument) {
				t.Errorf("ListRecords(%+v): %v, want ErrInvalidArgument", q, err)
			}
			break
		}
	}
}

// testRecordsWithRelationships: a record and a relationship written in one
// transaction commit at one revision, or neither is written.
func testRecordsWithRelationships(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	base := h.mustWrite(def, datastore.OpCreate, "organization:acme#member@user:bob")
	boom := errors.New("boom")
	for name, fail := range map[string]func(ctx context.Context, tx datastore.ReadWriteTx) error{
		"the function fails": func(context.Context, datastore.ReadWriteTx) error { return boom },
		"the relationship write fails": func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, updates(datastore.OpCreate, "organization:acme#member@user:bob"))
		},
	} {
		_, err := h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			if err := tx.PutRecord(ctx, rec("req-1", "approved", "state=approved")); err != nil {
				return err
			}
			if err := tx.WriteRelationships(ctx, updates(datastore.OpTouch, "organization:acme#member@user:carol")); err != nil {
				return err
			}
			return fail(ctx, tx)
		})
		if err == nil {
			t.Fatalf("%s: the transaction committed", name)
		}
		head := h.head(def)
		if head != base {
			t.Fatalf("%s: head moved from %d to %d", name, base, head)
		}
		if got := h.readData(def, head, reqKind, "req-1"); got != "absent" {
			t.Fatalf("%s: the record was written: %s", name, got)
		}
	}
	rev := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.PutRecord(ctx, rec("req-1", "approved", "state=approved")); err != nil {
			return err
		}
		return tx.WriteRelationships(ctx, updates(datastore.OpTouch, "organization:acme#member@user:carol"))
	})
	if got := h.readData(def, rev, reqKind, "req-1"); got != "approved" {
		t.Fatalf("record at %d: %s", rev, got)
	}
	if got := h.readData(def, rev-1, reqKind, "req-1"); got != "absent" {
		t.Fatalf("record before %d: %s", rev, got)
	}
	wantList(t, "relationships at the same revision", h.all(def, rev), "organization:acme#member@user:bob", "organization:acme#member@user:carol")
}

// testRecordTenants: records belong to their tenant and go with it.
func testRecordTenants(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if err := h.ds.CreateTenant(h.ctx(), "t2"); err != nil {
		t.Fatal(err)
	}
	d := h.putRecords(def, rec("req-1", "default", "state=pending"))
	t2 := h.putRecords("t2", rec("req-1", "t2", "state=pending"), rec("req-9", "t2"))
	if got := h.readData(def, d, reqKind, "req-1"); got != "default" {
		t.Fatalf("default's record: %s", got)
	}
	wantList(t, "t2's records", h.listIDs("t2", t2, reqKind, datastore.RecordQuery{}), "req-1=t2", "req-9=t2")
	wantList(t, "default's pending", h.listIDs(def, h.head(def), reqKind, datastore.RecordQuery{Key: "state=pending"}), "req-1=default")
	if err := h.ds.DeleteTenant(h.ctx(), "t2"); err != nil {
		t.Fatal(err)
	}
	if err := h.ds.CreateTenant(h.ctx(), "t2"); err != nil {
		t.Fatal(err)
	}
	wantList(t, "a re-created tenant's records", h.listIDs("t2", h.head("t2"), reqKind, datastore.RecordQuery{}))
	if got := h.readData("t2", h.head("t2"), reqKind, "req-1"); got != "absent" {
		t.Fatalf("a re-created tenant reads an old record: %s", got)
	}
	if got := h.readData(def, h.head(def), reqKind, "req-1"); got != "default" {
		t.Fatalf("deleting another tenant changed default's record: %s", got)
	}
}

// testRecordGarbageCollection: record versions ended before the GC horizon are
// removed; what a readable revision sees stays.
func testRecordGarbageCollection(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{GCWindow: time.Hour})
	h.putRecords(def, rec("req-1", "v1", "state=pending"), rec("req-2", "v1"))
	h.putRecords(def, rec("req-1", "v2", "state=approved"))
	h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.DeleteRecord(ctx, reqKind, "req-2")
	})
	h.clock.Advance(2 * time.Hour)
	last := h.mustWrite(def, datastore.OpTouch, "organization:acme#member@user:bob")
	h.clock.Advance(2 * time.Hour)
	st := h.gc()
	if st.Records < 2 {
		t.Fatalf("GarbageCollect removed %d record versions, want at least 2 (req-1 v1, req-2)", st.Records)
	}
	if got := h.readData(def, last, reqKind, "req-1"); got != "v2" {
		t.Fatalf("req-1 after GC: %s", got)
	}
	wantList(t, "records after GC", h.listIDs(def, last, reqKind, datastore.RecordQuery{}), "req-1=v2")
	wantList(t, "old key after GC", h.listIDs(def, last, reqKind, datastore.RecordQuery{Key: "state=pending"}))
	wantList(t, "new key after GC", h.listIDs(def, last, reqKind, datastore.RecordQuery{Key: "state=approved"}), "req-1=v2")
}

// testRecordWatch: record writes are in the change feed: Watch and the audit trail
// carry each put with the record as written and each deletion of a record that
// existed, next to the relationship changes of the same transaction.
func testRecordWatch(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	ch, _ := h.startWatch(def, h.head(def))
	r1 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.PutRecord(ctx, rec("req-1", `{"s":"pending"}`, "state=pending")); err != nil {
			return err
		}
		if err := tx.DeleteRecord(ctx, reqKind, "never-written"); err != nil {
			return err
		}
		return tx.WriteRelationships(ctx, updates(datastore.OpTouch, "organization:acme#member@user:bob"))
	})
	r2 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.DeleteRecord(ctx, reqKind, "req-1")
	})
	want := map[datastore.Revision]string{
		r1: `put access_request/req-1@` + fmt.Sprint(r1) + ` {"s":"pending"} [state=pending]`,
		r2: `deleted access_request/req-1`,
	}
	for _, rev := range []datastore.Revision{r1, r2} {
		w := next(t, ch)
		if w.err != nil || w.txn.Revision != rev {
			t.Fatalf("Watch yielded %+v, want revision %d", w, rev)
		}
		if got := formatRecordChanges(w.txn.RecordChanges); got != want[rev] {
			t.Errorf("watched record changes at %d: %s, want %s", rev, got, want[rev])
		}
		if got := formatRecordChanges(h.txAt(def, rev).RecordChanges); got != want[rev] {
			t.Errorf("audited record changes at %d: %s, want %s", rev, got, want[rev])
		}
	}
	compareChanges(t, "relationship changes next to the record", h.txAt(def, r1).Changes, changesOf(datastore.ChangeCreated, "organization:acme#member@user:bob"))
}

func formatRecordChanges(rcs []datastore.RecordChange) string {
	var out []string
	for _, c := range rcs {
		r := c.Record
		if c.Deleted {
			out = append(out, "deleted "+r.Kind+"/"+r.ID)
			continue
		}
		out = append(out, fmt.Sprintf("put %s/%s@%d %s %v", r.Kind, r.ID, r.Revision, r.Data, r.Keys))
	}
	return strings.Join(out, "; ")
}

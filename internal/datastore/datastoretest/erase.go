package datastoretest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func subjectEraser(h *harness) datastore.SubjectEraser {
	e, ok := h.ds.(datastore.SubjectEraser)
	if !ok {
		h.t.Fatalf("%T does not implement datastore.SubjectEraser", h.ds)
	}
	return e
}

// testEraseSubject pseudonymises a subject everywhere the audit trail names it (as
// subject, actor, grantor, in a refusal, a record and the reason text), leaves other
// subjects and tenants alone, keeps revisions, times and the audit indexes working,
// and deletes only the subject's decisions.
func testEraseSubject(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	ctx := h.ctx()
	if err := h.ds.CreateTenant(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	bob, pseud := tuple.ObjectRef{Type: "user", ID: "bob"}, tuple.ObjectRef{Type: "user", ID: "pseudonym-0123abcd"}
	r1 := h.mustWrite(def, datastore.OpCreate, "organization:acme#member@user:bob", "organization:acme#member@user:bobby")
	actor := tuple.SubjectRef{Type: "user", ID: "bob"}
	granted := tuple.MustParse("document:d1#viewer@user:ann")
	granted.Granted = &tuple.Grant{By: actor, Via: tuple.ObjectRef{Type: "organization", ID: "acme"}}
	meta := datastore.TxMetadata{Principal: "portal", Actor: &actor, Reason: "user:bob shares d1 (not user:bobby)", Operation: "write",
		Grants: []datastore.GrantRecord{{Relationship: granted.Key(), Rule: "grant viewer by manage"}}}
	r2, err := h.ds.ReadWriteTx(ctx, def, meta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpTouch, Relationship: granted}}); err != nil {
			return err
		}
		return tx.PutRecord(ctx, datastore.Record{Kind: "access_request", ID: "r1", Data: []byte(`{"requester":"user:bob"}`), Keys: []string{"requester=user:bob"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	denied := datastore.TxMetadata{Principal: "portal", Operation: "write", Denied: &datastore.Denial{
		Message: "user:eve may not touch organization:acme#admin@user:bob", Updates: updates(datastore.OpTouch, "organization:acme#admin@user:bob"),
	}}
	r3, err := h.ds.ReadWriteTx(ctx, def, denied, func(context.Context, datastore.ReadWriteTx) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	r4 := h.mustWrite(def, datastore.OpCreate, "organization:acme#member@user:carol")
	h.mustWrite("other", datastore.OpCreate, "organization:acme#member@user:bob")
	before := h.txAt(def, r2).Time
	t0 := Start.UTC().Truncate(time.Microsecond)
	if err := decisionStore(h).WriteDecisions(ctx, []datastore.Decision{
		decision(def, t0, "document:d1", "view", "user:bob", "allowed"),
		decision(def, t0, "document:d1", "view", "user:ann", "allowed"),
		decision("other", t0, "document:d1", "view", "user:bob", "denied"),
	}); err != nil {
		t.Fatal(err)
	}

	n, err := subjectEraser(h).PseudonymizeAudit(ctx, def, bob, pseud)
	if err != nil || n != 3 {
		t.Fatalf("PseudonymizeAudit = %d, %v; want the 3 transactions naming user:bob", n, err)
	}
	h.wantChanges(def, r1, "created organization:acme#member@user:bobby", "created organization:acme#member@user:pseudonym-0123abcd")
	tx2 := h.txAt(def, r2)
	if tx2.Metadata.Actor == nil || tx2.Metadata.Actor.ID != pseud.ID || tx2.Metadata.Reason != "user:pseudonym-0123abcd shares d1 (not user:bobby)" ||
		tx2.Changes[0].Relationship.Granted == nil || tx2.Changes[0].Relationship.Granted.By.ID != pseud.ID || !tx2.Time.Equal(before) ||
		len(tx2.RecordChanges) != 1 || string(tx2.RecordChanges[0].Record.Data) != `{"requester":"user:pseudonym-0123abcd"}` ||
		tx2.RecordChanges[0].Record.Keys[0] != "requester=user:pseudonym-0123abcd" || tx2.Metadata.Grants[0].Rule != "grant viewer by manage" {
		t.Fatalf("rewritten delegated write: %+v %+v %+v %q %v", tx2.Metadata, tx2.Changes, tx2.RecordChanges, tx2.RecordChanges[0].Record.Data, tx2.Time.Equal(before))
	}
	tx3 := h.txAt(def, r3)
	if d := tx3.Metadata.Denied; d == nil || strings.Contains(d.Message, "user:bob") || d.Updates[0].Relationship.Subject.ID != pseud.ID {
		t.Fatalf("rewritten refusal: %+v", tx3.Metadata.Denied)
	}
	h.wantChanges(def, r4, "created organization:acme#member@user:carol")
	h.wantChanges("other", h.head("other"), "created organization:acme#member@user:bob")

	// The audit indexes follow: the pseudonym is found, the identifier no more.
	count := func(tenant string, f datastore.TransactionFilter) int {
		n := 0
		for _, err := range h.ds.ReadTransactions(ctx, tenant, f) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if got := count(def, datastore.TransactionFilter{Subject: &bob}); got != 0 {
		t.Fatalf("%d transactions still found by subject user:bob", got)
	}
	if got := count(def, datastore.TransactionFilter{Subject: &pseud}); got != 2 {
		t.Fatalf("%d transactions found by the pseudonym as subject, want 2", got)
	}
	pa := tuple.SubjectRef{Type: "user", ID: pseud.ID}
	if got := count(def, datastore.TransactionFilter{Actor: &pa}); got != 1 {
		t.Fatalf("%d transactions found by the pseudonym as actor, want 1", got)
	}
	// The same erasure again finds nothing left; new writes still commit.
	if n, err := subjectEraser(h).PseudonymizeAudit(ctx, def, bob, pseud); err != nil || n != 0 {
		t.Fatalf("second PseudonymizeAudit = %d, %v", n, err)
	}
	h.mustWrite(def, datastore.OpCreate, "organization:acme#member@user:dan")

	// Decisions: only the subject's, only in the tenant.
	if n, err := subjectEraser(h).DeleteSubjectDecisions(ctx, def, bob); err != nil || n != 1 {
		t.Fatalf("DeleteSubjectDecisions = %d, %v", n, err)
	}
	if got := readDecisions(h, datastore.DecisionFilter{Tenants: []string{def, "other"}}); len(got) != 2 || got[0].Subject.ID == "bob" && got[0].Tenant == def || got[1].Subject.ID == "bob" && got[1].Tenant == def {
		t.Fatalf("decisions after erasure: %+v", got)
	}
	if _, err := subjectEraser(h).PseudonymizeAudit(ctx, "nosuch", bob, pseud); err == nil {
		t.Fatal("erasing in a missing tenant succeeded")
	}
}

// testRetentionPerKind redacts refused writes past their retention, keeping their
// place in the log, and deletes decisions of one result past theirs.
func testRetentionPerKind(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	ctx := h.ctx()
	refuse := func(msg string) datastore.Revision {
		meta := datastore.TxMetadata{Principal: "portal", Operation: "write", Reason: "try", Denied: &datastore.Denial{
			Message: msg, Updates: updates(datastore.OpTouch, "organization:acme#admin@user:eve"),
		}}
		rev, err := h.ds.ReadWriteTx(ctx, def, meta, func(context.Context, datastore.ReadWriteTx) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	old := refuse("user:eve may not touch organization:acme#admin@user:eve")
	h.mustWrite(def, datastore.OpCreate, "organization:acme#member@user:ann")
	h.clock.Advance(2 * time.Hour)
	cutoff := h.clock.Now().Add(-time.Hour)
	recent := refuse("recent refusal")

	redactor, ok := h.ds.(datastore.RefusalRedactor)
	if !ok {
		t.Fatalf("%T does not implement datastore.RefusalRedactor", h.ds)
	}
	if n, err := redactor.RedactRefusalsBefore(ctx, def, cutoff); err != nil || n != 1 {
		t.Fatalf("RedactRefusalsBefore = %d, %v; want the 1 old refusal", n, err)
	}
	if d := h.txAt(def, old).Metadata.Denied; d == nil || d.Message != datastore.RedactedRefusal || len(d.Updates) != 0 {
		t.Fatalf("old refusal after its retention: %+v", d)
	}
	if tx := h.txAt(def, old); tx.Metadata.Principal != "portal" || tx.Metadata.Reason != "try" {
		t.Fatalf("the redacted refusal lost its key or reason: %+v", tx.Metadata)
	}
	if d := h.txAt(def, recent).Metadata.Denied; d == nil || d.Message != "recent refusal" || len(d.Updates) != 1 {
		t.Fatalf("recent refusal: %+v", d)
	}
	if n, err := redactor.RedactRefusalsBefore(ctx, def, cutoff); err != nil || n != 0 {
		t.Fatalf("second RedactRefusalsBefore = %d, %v", n, err)
	}
	eve := tuple.ObjectRef{Type: "user", ID: "eve"}
	n := 0
	for _, err := range h.ds.ReadTransactions(ctx, def, datastore.TransactionFilter{Subject: &eve}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d transactions found by user:eve after redaction, want only the recent refusal", n)
	}
	// Watch still reads the whole log, in order.
	var revs []datastore.Revision
	for tx, err := range h.ds.Watch(ctx, def, 0) {
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, tx.Revision)
		if tx.Revision == recent {
			break
		}
	}
	if len(revs) != int(recent) {
		t.Fatalf("watch after redaction: %v", revs)
	}

	// Decisions: denied ones go after their own retention, the others stay.
	t0 := Start.UTC().Truncate(time.Microsecond)
	if err := decisionStore(h).WriteDecisions(ctx, []datastore.Decision{
		decision(def, t0, "document:d1", "view", "user:ann", "denied"),
		decision(def, t0, "document:d1", "view", "user:ann", "allowed"),
		decision(def, t0.Add(3*time.Hour), "document:d1", "view", "user:ann", "denied"),
	}); err != nil {
		t.Fatal(err)
	}
	retainer, ok := h.ds.(datastore.DecisionRetainer)
	if !ok {
		t.Fatalf("%T does not implement datastore.DecisionRetainer", h.ds)
	}
	if n, err := retainer.DeleteDecisionsWithResultBefore(ctx, "denied", t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteDecisionsWithResultBefore = %d, %v", n, err)
	}
	if got := readDecisions(h, datastore.DecisionFilter{Tenants: []string{def}}); len(got) != 2 || got[0].Result != "denied" || got[1].Result != "allowed" {
		t.Fatalf("decisions after the denied retention: %+v", got)
	}
}

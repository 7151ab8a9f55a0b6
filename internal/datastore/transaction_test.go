package datastore

import (
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestTransactionFilterMatches(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	alice := tuple.SubjectRef{Type: "user", ID: "alice"}
	bob := tuple.SubjectRef{Type: "user", ID: "bob"}
	acme := tuple.ObjectRef{Type: "organization", ID: "acme"}
	txn := &Transaction{
		Revision: 10,
		Time:     at,
		Metadata: TxMetadata{Principal: "ci", Actor: &alice, Organizations: []tuple.ObjectRef{acme}},
		Changes: []Change{
			{Kind: ChangeCreated, Relationship: tuple.MustParse("document:report#viewer@group:eng#member")},
			{Kind: ChangeDeleted, Relationship: tuple.MustParse("organization:globex#member@user:carol")},
		},
	}
	denied := &Transaction{
		Revision: 11,
		Time:     at,
		Metadata: TxMetadata{Denied: &Denial{Message: "no", Updates: []Update{{Op: OpTouch, Relationship: tuple.MustParse("folder:secret#viewer@user:mallory")}}}},
	}
	obj := func(typ, id string) *tuple.ObjectRef { return &tuple.ObjectRef{Type: typ, ID: id} }
	cases := []struct {
		name   string
		filter TransactionFilter
		txn    *Transaction
		want   bool
	}{
		{"empty filter", TransactionFilter{}, txn, true},
		{"before a newer revision", TransactionFilter{Before: 11}, txn, true},
		{"before its own revision", TransactionFilter{Before: 10}, txn, false},
		{"since its time", TransactionFilter{Since: at}, txn, true},
		{"since later", TransactionFilter{Since: at.Add(time.Nanosecond)}, txn, false},
		{"until its time", TransactionFilter{Until: at}, txn, false},
		{"until later", TransactionFilter{Until: at.Add(time.Nanosecond)}, txn, true},
		{"principal", TransactionFilter{Principal: "ci"}, txn, true},
		{"other principal", TransactionFilter{Principal: "admin"}, txn, false},
		{"actor", TransactionFilter{Actor: &alice}, txn, true},
		{"other actor", TransactionFilter{Actor: &bob}, txn, false},
		{"actor of a transaction without one", TransactionFilter{Actor: &alice}, denied, false},
		{"resource", TransactionFilter{Resource: obj("document", "report")}, txn, true},
		{"resource of any id", TransactionFilter{Resource: obj("document", "")}, txn, true},
		{"other resource", TransactionFilter{Resource: obj("document", "memo")}, txn, false},
		{"a subject is not a resource", TransactionFilter{Resource: obj("group", "eng")}, txn, false},
		{"subject object", TransactionFilter{Subject: obj("group", "eng")}, txn, true},
		{"subject of a deletion", TransactionFilter{Subject: obj("user", "carol")}, txn, true},
		{"other subject", TransactionFilter{Subject: obj("user", "dave")}, txn, false},
		{"organisation named in the metadata", TransactionFilter{Organization: &acme}, txn, true},
		{"organisation changed", TransactionFilter{Organization: obj("organization", "globex")}, txn, true},
		{"organisation of any id", TransactionFilter{Organization: obj("organization", "")}, txn, true},
		{"other organisation", TransactionFilter{Organization: obj("organization", "initech")}, txn, false},
		{"resource a denied write attempted", TransactionFilter{Resource: obj("folder", "secret")}, denied, true},
		{"subject a denied write attempted", TransactionFilter{Subject: obj("user", "mallory")}, denied, true},
		{"all conditions hold", TransactionFilter{Principal: "ci", Actor: &alice, Resource: obj("document", "report"), Since: at, Before: 11}, txn, true},
		{"one condition fails", TransactionFilter{Principal: "ci", Actor: &alice, Resource: obj("document", "report"), Since: at, Before: 10}, txn, false},
	}
	for _, c := range cases {
		if got := c.filter.Matches(c.txn); got != c.want {
			t.Errorf("%s: Matches = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestChangeKindNames(t *testing.T) {
	for kind, want := range map[ChangeKind]string{ChangeCreated: "created", ChangeTouched: "touched", ChangeDeleted: "deleted", 0: "unknown"} {
		if got := kind.String(); got != want {
			t.Errorf("ChangeKind(%d).String() = %q, want %q", kind, got, want)
		}
	}
}

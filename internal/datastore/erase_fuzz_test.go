package datastore

import (
	"regexp"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// wholeBob finds user:bob standing as a whole reference, by a rule written apart
// from the pseudonymizer's: not after a type-name byte, not before an id byte.
var wholeBob = regexp.MustCompile(`(^|[^a-z0-9_])user:bob($|[^a-zA-Z0-9/_|=+-])`)

// FuzzPseudonymizeText feeds arbitrary reasons, refusal messages and record data to
// PseudonymizeTransaction: no whole reference to the subject may survive, other text
// must be kept, and erasing twice must change nothing more.
func FuzzPseudonymizeText(f *testing.F) {
	for _, s := range []string{"", "user:bob", "user:bobby", "superuser:bob", "(user:bob)", "user:bobuser:bob", "user:bob user:bob,user:bob", `{"requester":"user:bob"}`, "requester=user:bob", "user:bo", "\xff user:bob"} {
		f.Add(s)
	}
	bob, pseud := tuple.ObjectRef{Type: "user", ID: "bob"}, tuple.ObjectRef{Type: "user", ID: "pseudonym-00ff"}
	f.Fuzz(func(t *testing.T, s string) {
		tx := &Transaction{Revision: 1, Metadata: TxMetadata{Reason: s, Denied: &Denial{Message: s}},
			RecordChanges: []RecordChange{{Record: Record{Kind: "k", ID: "i", Data: []byte(s), Keys: []string{s}}}}}
		out, changed := PseudonymizeTransaction(tx, bob, pseud)
		if tx.Metadata.Reason != s || string(tx.RecordChanges[0].Record.Data) != s {
			t.Fatalf("the input transaction was modified")
		}
		got := out.Metadata.Reason
		for _, v := range []string{out.Metadata.Denied.Message, string(out.RecordChanges[0].Record.Data), out.RecordChanges[0].Record.Keys[0]} {
			if v != got {
				t.Fatalf("the same text pseudonymised two ways: %q and %q", got, v)
			}
		}
		if wholeBob.MatchString(got) {
			t.Fatalf("%q → %q still names user:bob", s, got)
		}
		if changed != (got != s) {
			t.Fatalf("%q → %q reported changed=%v", s, got, changed)
		}
		if wholeBob.MatchString(s) != changed {
			t.Fatalf("%q: a whole reference present=%v but changed=%v", s, wholeBob.MatchString(s), changed)
		}
		if again, more := PseudonymizeTransaction(out, bob, pseud); more || again.Metadata.Reason != got {
			t.Fatalf("a second erasure of %q changed %q to %q", s, got, again.Metadata.Reason)
		}
	})
}

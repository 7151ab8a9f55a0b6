package bolt

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func sampleTransaction() *datastore.Transaction {
	schema := "definition user {}"
	return &datastore.Transaction{
		Revision: 42,
		Time:     time.Date(2031, 2, 3, 4, 5, 6, 789000000, time.UTC),
		Metadata: datastore.TxMetadata{
			Principal: "key", Reason: "why ✓", Operation: "write",
			Actor:         &tuple.SubjectRef{Type: "group", ID: "admins", Relation: "member"},
			Organizations: []tuple.ObjectRef{{Type: "organization", ID: "acme"}},
			Denied: &datastore.Denial{Message: "refused", Updates: []datastore.Update{
				{Op: datastore.OpCreate, Relationship: tuple.MustParse(`organization:acme#member@user:bob[only_on:{"a":[1]}][expiration:2031-01-01T00:00:00Z]`)},
				{Op: datastore.OpDelete, Relationship: tuple.MustParse("document:d1#viewer@group:eng#member")},
			}},
			Grants: []datastore.GrantRecord{
				{Relationship: tuple.MustParse("document:a#viewer@user:x").Key(), Rule: "grant viewer by manage", Via: &tuple.ObjectRef{Type: "organization", ID: "acme"}},
				{Relationship: tuple.MustParse("document:b#viewer@user:x").Key(), Rule: "grant viewer by admin"},
			},
		},
		Schema: &schema,
		Changes: []datastore.Change{
			{Kind: datastore.ChangeCreated, Relationship: tuple.MustParse("document:a#viewer@user:x")},
			{Kind: datastore.ChangeTouched, Relationship: tuple.MustParse(`document:a#viewer@user:y[only_on:{"n":1.5,"l":[1,"a"]}][expiration:2040-01-01T00:00:00.5Z]`)},
			{Kind: datastore.ChangeDeleted, Relationship: tuple.MustParse("document:ab#viewer@group:eng#member[only_on]")},
			{Kind: datastore.ChangeCreated, Relationship: tuple.MustParse("folder:f#viewer@user:*[expiration:1969-07-20T20:17:00Z]")},
			{Kind: datastore.ChangeCreated, Relationship: tuple.MustParse(`organization:acme-eu#member@user:bob[only_on:{"a":1}][granted:service:provisioner@organization:acme][expiration:2040-01-01T00:00:00Z]`)},
			{Kind: datastore.ChangeDeleted, Relationship: tuple.MustParse("organization:acme-eu#member@user:carol[granted:user:eve@organization:acme-eu]")},
		},
	}
}

func TestTransactionRoundTrip(t *testing.T) {
	want := sampleTransaction()
	enc := appendTransaction(nil, want)
	got, err := decodeTransaction(want.Revision, enc)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip:\n got  %s\n want %s", b, a)
	}
	for i := range want.Changes {
		if !got.Changes[i].Relationship.Equal(want.Changes[i].Relationship) {
			t.Fatalf("change %d: %s, want %s", i, got.Changes[i].Relationship, want.Changes[i].Relationship)
		}
	}
	// A record cut short anywhere is an error, never a panic or a shorter record.
	for n := 0; n < len(enc); n++ {
		if _, err := decodeTransaction(want.Revision, enc[:n]); err == nil {
			t.Fatalf("a record truncated to %d of %d bytes decoded", n, len(enc))
		}
	}
}

func TestValueAndTimeEncoding(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0).UTC(), time.Date(2262, 4, 12, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		if got := readTime(appendTime(nil, at)); !got.Equal(at) {
			t.Fatalf("time %v came back as %v", at, got)
		}
	}
	// Encoded times sort like the times.
	a, b := appendTime(nil, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)), appendTime(nil, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if bytes.Compare(a, b) >= 0 {
		t.Fatal("encoded times do not sort in time order")
	}
	r := tuple.MustParse(`document:a#viewer@user:x[only_on:{"k":"v"}][expiration:2030-01-01T00:00:00Z]`)
	v := appendValue(nil, 7, &r)
	d, ex, err := valueDeleted(v)
	if err != nil || d != 7 {
		t.Fatalf("deleted %d, %v", d, err)
	}
	back := relFromKey(r.Key())
	if err := decodeExtras(ex, &back); err != nil || !back.Equal(r) {
		t.Fatalf("extras came back as %s, %v", back, err)
	}
	if v2, _ := withDeleted(v, 9); !bytes.Equal(v2[1:], v[1:]) || v2[0] != 9 {
		t.Fatalf("withDeleted changed the extras")
	}
	for n := 0; n < len(ex); n++ {
		if err := decodeExtras(ex[:n], &back); err == nil {
			t.Fatalf("extras truncated to %d bytes decoded", n)
		}
	}
}

// TestExtrasWithoutGrantDecode: values written before relationships carried a grant
// (a flag byte with no grant flag) still decode, to a relationship with no grant, and
// a grant survives the round trip next to a caveat and an expiry.
func TestExtrasWithoutGrantDecode(t *testing.T) {
	// The extras of a caveated, expiring relationship as earlier versions wrote them.
	old := []byte{flagExpiry | flagCaveat}
	old = appendTime(old, time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
	old = appendString(old, "only_on")
	var got tuple.Relationship
	if err := decodeExtras(old, &got); err != nil {
		t.Fatal(err)
	}
	if got.Granted != nil || got.Caveat == nil || got.Caveat.Name != "only_on" || !got.HasExpiration() {
		t.Fatalf("old extras decoded to %+v", got)
	}
	want := tuple.MustParse(`document:a#viewer@user:b[only_on:{"k":"v"}][granted:user:eve@organization:acme-eu][expiration:2040-01-01T00:00:00Z]`)
	var back tuple.Relationship
	back.Resource, back.Relation, back.Subject = want.Resource, want.Relation, want.Subject
	if err := decodeExtras(appendExtras(nil, &want), &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(want) {
		t.Fatalf("round trip gave %s, want %s", back, want)
	}
	// A value cut inside the grant is refused, not read as a shorter grant.
	ex := appendExtras(nil, &want)
	if err := decodeExtras(ex[:len(ex)-3], &tuple.Relationship{}); err == nil {
		t.Fatal("truncated grant decoded")
	}
}

// TestRecordChangesRoundTrip: a log record's record changes follow its relationship
// changes and decode back; a record without them is a record written before they
// existed, so only a cut inside them is an error.
func TestRecordChangesRoundTrip(t *testing.T) {
	want := sampleTransaction()
	plain := len(appendTransaction(nil, want))
	want.RecordChanges = []datastore.RecordChange{
		{Record: datastore.Record{Kind: "access_request", ID: "req-1", Data: []byte(`{"s":"pending"}`), Keys: []string{"state=pending", "dedup=ab"}, Revision: want.Revision}},
		{Deleted: true, Record: datastore.Record{Kind: "access_request", ID: "req-0"}},
		{Record: datastore.Record{Kind: "note", ID: "n", Data: []byte{}, Revision: want.Revision}}, // empty data decodes as empty, not nil
	}
	enc := appendTransaction(nil, want)
	got, err := decodeTransaction(want.Revision, enc)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip:\n got  %s\n want %s", b, a)
	}
	for n := 0; n < len(enc); n++ {
		if _, err := decodeTransaction(want.Revision, enc[:n]); err == nil && n != plain {
			t.Fatalf("a record truncated to %d of %d bytes decoded", n, len(enc))
		}
	}
}

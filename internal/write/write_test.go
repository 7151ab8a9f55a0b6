package write

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// fixture is a memory store with the reference B2B schema, an engine and a writer.
type fixture struct {
	t   testing.TB
	ds  *memory.Store
	eng *engine.Engine
	w   *Writer
	now time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	f.ds = memory.New(datastore.Options{Now: clock})
	f.eng = engine.New(f.ds, engine.Config{Now: clock})
	f.w = New(f.ds, f.eng, Config{Now: clock, MaxUpdates: 1000, MaxPreconditions: 100})
	text, err := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.WriteSchema(context.Background(), Request{Tenant: tuple.DefaultTenant, Principal: "setup"}, string(text), false); err != nil {
		t.Fatal(err)
	}
	return f
}

func updates(op datastore.Operation, rels ...string) []datastore.Update {
	out := make([]datastore.Update, len(rels))
	for i, r := range rels {
		out[i] = datastore.Update{Op: op, Relationship: tuple.MustParse(r)}
	}
	return out
}

// admin writes relationships directly, as an admin key would.
func (f *fixture) admin(rels ...string) datastore.Revision {
	f.t.Helper()
	rev, err := f.w.WriteRelationships(context.Background(), Request{Tenant: tuple.DefaultTenant, Principal: "admin-key"}, updates(datastore.OpTouch, rels...), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return rev
}

func (f *fixture) check(resource, permission, subject string) engine.Permissionship {
	f.t.Helper()
	ctx := context.Background()
	rev, err := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	if err != nil {
		f.t.Fatal(err)
	}
	obj, err := tuple.ParseObject(resource)
	if err != nil {
		f.t.Fatal(err)
	}
	sub, err := tuple.ParseSubject(subject)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.eng.Check(ctx, engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: obj, Permission: permission, Subject: sub})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Permissionship
}

func actor(s string) *tuple.SubjectRef {
	sub, err := tuple.ParseSubject(s)
	if err != nil {
		panic(err)
	}
	return &sub
}

// orgTree: acme (brand portal) > acme-eu > acme-eu-sales, and a sibling acme-us.
// eve administers acme-eu.
func (f *fixture) orgTree() {
	f.admin(
		"organization:acme#brand@brand:portal",
		"organization:acme-eu#parent@organization:acme",
		"organization:acme-us#parent@organization:acme",
		"organization:acme-eu-sales#parent@organization:acme-eu",
		"organization:acme#admin@user:root",
		"organization:acme-eu#admin@user:eve",
		"organization:acme-eu#billing_manager@user:eve",
	)
}

func TestWriteNeedsSchemaAndValidRelationships(t *testing.T) {
	ctx := context.Background()
	ds := memory.New(datastore.Options{})
	w := New(ds, engine.New(ds, engine.Config{}), Config{})
	_, err := w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpCreate, "document:a#viewer@user:b"), nil)
	var noSchema *datastore.NoSchemaError
	if !errors.As(err, &noSchema) {
		t.Fatalf("write without a schema: %v", err)
	}

	f := newFixture(t)
	cases := map[string]string{
		"document:a#viewr@user:b":          "viewr",
		"document:a#view@user:b":           "permission",
		"document:a#viewer@organization:b": "organization",
		"nothing:a#viewer@user:b":          "nothing",
		"project:p#partner@organization:o[within_network:{\"allowed_cidr\":\"10.0.0.0/8\"}]": "",
	}
	for rel, want := range cases {
		_, err := f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpCreate, rel), nil)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", rel, err)
			}
			continue
		}
		if !errors.Is(err, datastore.ErrInvalidArgument) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an invalid-argument error naming %q", rel, err, want)
		}
	}
	_, err = f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpCreate, "group:g#member@user:a", "group:g#member@user:a"), nil)
	if !errors.Is(err, datastore.ErrInvalidArgument) || !strings.Contains(err.Error(), "both change") {
		t.Errorf("duplicate update: %v", err)
	}
	f.admin("group:g#member@user:a")
	_, err = f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpCreate, "group:g#member@user:a"), nil)
	var exists *datastore.RelationshipExistsError
	if !errors.As(err, &exists) {
		t.Errorf("duplicate create: %v", err)
	}
	many := make([]string, f.w.cfg.MaxUpdates+1)
	for i := range many {
		many[i] = "group:g#member@user:u" + strings.Repeat("x", 1+i%5) + string(rune('a'+i%26)) + strings.Repeat("y", i/130)
	}
	_, err = f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpTouch, many...), nil)
	var limit *LimitError
	if !errors.As(err, &limit) || limit.Max != f.w.cfg.MaxUpdates {
		t.Errorf("oversize write: %v", err)
	}
}

func TestPreconditions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.admin("group:g#member@user:a")
	member := datastore.RelationshipFilter{ResourceType: "group", ResourceIDs: []string{"g"}, Relation: "member"}
	if _, err := f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpTouch, "group:g#member@user:b"),
		[]Precondition{{MustMatch: true, Filter: member}}); err != nil {
		t.Fatalf("must-match that holds: %v", err)
	}
	_, err := f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpTouch, "group:g#member@user:c"),
		[]Precondition{{MustMatch: false, Filter: member}})
	var pe *PreconditionError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "group:g#member@user:") {
		t.Fatalf("must-not-match that fails: %v", err)
	}
	if f.check("group:g", "member", "user:c") != engine.NoPermission {
		t.Fatal("a write with a failed precondition was applied")
	}
}

func TestDeleteByFilter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.admin("group:g#member@user:a", "group:g#member@user:b", "group:g#member@user:c", "group:h#member@user:a")
	filter := datastore.RelationshipFilter{ResourceType: "group", ResourceIDs: []string{"g"}}
	res, err := f.w.DeleteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, filter, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 2 || !res.More {
		t.Fatalf("limited delete: %+v", res)
	}
	res, err = f.w.DeleteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, filter, 0, nil)
	if err != nil || len(res.Deleted) != 1 || res.More {
		t.Fatalf("rest: %+v %v", res, err)
	}
	if f.check("group:h", "member", "user:a") != engine.HasPermission {
		t.Fatal("delete reached outside its filter")
	}
	if _, err := f.w.DeleteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, datastore.RelationshipFilter{}, 0, nil); !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("empty filter: %v", err)
	}
}

func TestImportIsIdempotentAndBatched(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.w.cfg.ImportBatchSize = 3
	var rels []tuple.Relationship
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		rels = append(rels, tuple.MustParse("group:g#member@user:"+id))
	}
	seq := func(fail int) func(func(tuple.Relationship, error) bool) {
		return func(yield func(tuple.Relationship, error) bool) {
			for i, r := range rels {
				if i == fail {
					yield(tuple.Relationship{}, errors.New("stream broke"))
					return
				}
				if !yield(r, nil) {
					return
				}
			}
		}
	}
	_, err := f.w.Import(ctx, Request{Tenant: tuple.DefaultTenant}, seq(5))
	var ie *ImportError
	if !errors.As(err, &ie) || ie.Committed != 3 {
		t.Fatalf("broken import: %v", err)
	}
	res, err := f.w.Import(ctx, Request{Tenant: tuple.DefaultTenant}, seq(-1))
	if err != nil || res.Count != 7 {
		t.Fatalf("resumed import: %+v %v", res, err)
	}
	st, _ := f.ds.Statistics(ctx, tuple.DefaultTenant)
	if st.ByResourceType["group"] != 7 {
		t.Fatalf("after import: %+v", st)
	}
}

func TestSchemaChangesThatOrphanAreRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.admin("project:p#blocked@user:x")
	text, _ := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	without := strings.Replace(string(text), "\trelation blocked: user\n", "", 1)
	without = strings.ReplaceAll(without, " - blocked", "")
	without = strings.ReplaceAll(without, " - project->blocked", "")
	without = strings.Replace(without, "\tgrant blocked by manage\n", "", 1)

	res, err := f.w.WriteSchema(ctx, Request{Tenant: tuple.DefaultTenant}, without, true)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if res.Refused == nil || res.Refused.Orphans[0].Count != 1 || res.Refused.Orphans[0].Example.String() != "project:p#blocked@user:x" {
		t.Fatalf("dry run verdict: %+v", res.Refused)
	}
	if !strings.Contains(res.Diff, "blocked") {
		t.Fatalf("dry run diff does not mention the removal:\n%s", res.Diff)
	}
	_, err = f.w.WriteSchema(ctx, Request{Tenant: tuple.DefaultTenant}, without, false)
	var refused *SchemaRefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "project#blocked") {
		t.Fatalf("unsafe write: %v", err)
	}
	if _, err := f.w.DeleteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, datastore.RelationshipFilter{ResourceType: "project", Relation: "blocked"}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if res, err := f.w.WriteSchema(ctx, Request{Tenant: tuple.DefaultTenant}, without, false); err != nil || res.Revision == 0 {
		t.Fatalf("safe write after cleanup: %+v %v", res, err)
	}
	_, err = f.w.WriteSchema(ctx, Request{Tenant: tuple.DefaultTenant}, "definition user {", false)
	if !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("broken schema: %v", err)
	}
}

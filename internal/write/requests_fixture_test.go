package write

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/bolt"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/datastore/postgres"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/testenv"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// reqFixture is a store with the reference schema and the partner story's people:
// acme-eu (admin eve, under acme whose admin is root) owns project apollo, shared
// with the partner globex (admin gina; members pat, quinn and rae).
type reqFixture struct {
	t   testing.TB
	ds  datastore.Datastore
	eng *engine.Engine
	w   *Writer
	now time.Time
}

// stores are the stores request tests run against (PostgreSQL when
// PEMBA_TEST_POSTGRES_URI is set, each test in a fresh database).
var stores = map[string]func(t testing.TB, opts datastore.Options) datastore.Datastore{
	"memory": func(_ testing.TB, opts datastore.Options) datastore.Datastore { return memory.New(opts) },
	"bolt": func(t testing.TB, opts datastore.Options) datastore.Datastore {
		ds, err := bolt.Open(t.TempDir(), bolt.Options{Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ds.Close() })
		return ds
	},
	"postgres": func(t testing.TB, opts datastore.Options) datastore.Datastore {
		uri := testenv.FreshPostgresDatabase(t)
		ctx := context.Background()
		if err := postgres.Migrate(ctx, uri, io.Discard); err != nil {
			t.Fatal(err)
		}
		ds, err := postgres.New(ctx, uri, postgres.Options{Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ds.Close() })
		return ds
	},
}

// eachStore runs fn against every store.
func eachStore(t *testing.T, fn func(t *testing.T, f *reqFixture)) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { fn(t, newReqFixture(t, open)) })
	}
}

func newReqFixture(t testing.TB, open func(testing.TB, datastore.Options) datastore.Datastore) *reqFixture {
	t.Helper()
	f := &reqFixture{t: t, now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	f.ds = open(t, datastore.Options{Now: clock})
	f.eng = engine.New(f.ds, engine.Config{Now: clock})
	f.w = New(f.ds, f.eng, Config{Now: clock, RequestTTL: 48 * time.Hour})
	text, err := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.WriteSchema(context.Background(), Request{Tenant: tuple.DefaultTenant, Principal: "setup"}, string(text), false); err != nil {
		t.Fatal(err)
	}
	f.admin(
		"organization:acme#brand@brand:portal",
		"organization:acme-eu#parent@organization:acme",
		"organization:acme#admin@user:root",
		"organization:acme-eu#admin@user:eve",
		"organization:globex#admin@user:gina",
		"organization:globex#member@user:pat",
		"organization:globex#member@user:quinn",
		"organization:globex#member@user:rae",
		"project:apollo#owner@organization:acme-eu",
		"project:apollo#partner@organization:globex",
	)
	return f
}

func (f *reqFixture) admin(rels ...string) datastore.Revision {
	f.t.Helper()
	rev, err := f.w.WriteRelationships(context.Background(), Request{Tenant: tuple.DefaultTenant, Principal: "admin-key"}, updates(datastore.OpTouch, rels...), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return rev
}

// as is a request made by the portal key on behalf of subject s.
func as(s, reason string) Request {
	return Request{Tenant: tuple.DefaultTenant, Principal: "portal", Actor: actor(s), Reason: reason}
}

func obj(s string) *tuple.ObjectRef {
	o, err := tuple.ParseObject(s)
	if err != nil {
		panic(err)
	}
	return &o
}

// partnerRequest is subject's request for project:apollo#partner_viewer through globex.
func partnerRequest(subject string, d time.Duration) NewAccessRequest {
	return NewAccessRequest{Resource: *obj("project:apollo"), Relation: "partner_viewer", Subject: *actor(subject), Organization: obj("organization:globex"), Duration: d}
}

// viewerRequest is subject's request for project:apollo#viewer (the grant rule is
// its one party: an admin of acme-eu or acme approves alone).
func viewerRequest(subject string) NewAccessRequest {
	return NewAccessRequest{Resource: *obj("project:apollo"), Relation: "viewer", Subject: *actor(subject)}
}

// create files a request; the clock moves a second first, so ids sort by creation.
func (f *reqFixture) create(by string, in NewAccessRequest) requests.AccessRequest {
	f.t.Helper()
	f.now = f.now.Add(time.Second)
	r, _, err := f.w.CreateAccessRequest(context.Background(), as(by, "need it"), in)
	if err != nil {
		f.t.Fatalf("%s creating %s: %v", by, in.Relation, err)
	}
	return r
}

// stored reads a request at the head revision.
func (f *reqFixture) stored(id string) requests.AccessRequest {
	f.t.Helper()
	ctx := context.Background()
	head, err := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := requests.Get(ctx, f.ds.SnapshotReader(tuple.DefaultTenant, head), tuple.DefaultTenant, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// relationship returns the stored relationship with key k, or nil.
func (f *reqFixture) relationship(resource, relation, subject string) *tuple.Relationship {
	f.t.Helper()
	ctx := context.Background()
	head, err := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	if err != nil {
		f.t.Fatal(err)
	}
	o := obj(resource)
	s := actor(subject)
	filter := datastore.RelationshipFilter{ResourceType: o.Type, ResourceIDs: []string{o.ID}, Relation: relation,
		Subject: &datastore.SubjectFilter{Type: s.Type, IDs: []string{s.ID}}}
	for rel, err := range f.ds.SnapshotReader(tuple.DefaultTenant, head).QueryRelationships(ctx, filter, datastore.QueryOptions{}) {
		if err != nil {
			f.t.Fatal(err)
		}
		return &rel
	}
	return nil
}

// wantKind fails unless err is of kind.
func wantKind(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got %v, want an error of kind %q", what, err, kind)
	}
}

// denials lists the messages of the refusals recorded for actor.
func (f *reqFixture) denials(tenant, by string) []string {
	f.t.Helper()
	var out []string
	for tx, err := range f.ds.ReadTransactions(context.Background(), tenant, datastore.TransactionFilter{Actor: actor(by)}) {
		if err != nil {
			f.t.Fatal(err)
		}
		if tx.Metadata.Denied != nil {
			out = append(out, tx.Metadata.Operation+": "+tx.Metadata.Denied.Message)
		}
	}
	return out
}

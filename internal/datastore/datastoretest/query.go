package datastoretest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// queryFixture is a small graph with every shape of subject: objects, subject sets,
// wildcards, and a subject type used both with and without a relation.
var queryFixture = []string{
	"document:a#editor@user:alice",
	"document:a#viewer@group:eng#member",
	"document:a#viewer@user:alice",
	"document:a#viewer@user:bob",
	"document:ab#owner@user:alice",
	"document:b#viewer@user:*",
	"document:b#viewer@user:carol",
	"document:c1#parent@folder:f1",
	"folder:f1#viewer@group:eng#member",
	"folder:f1#viewer@user:alice",
	"folder:f2#owner@group:eng",
	"folder:f2#viewer@group:eng#admin",
	"group:eng#member@user:alice",
	"group:eng#member@user:bob",
	"organization:acme#member@user:alice",
}

func testQueryFilters(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	rev := h.mustWrite(def, datastore.OpTouch, queryFixture...)
	cases := []struct {
		name   string
		filter datastore.RelationshipFilter
		want   []string
	}{
		{"everything", datastore.RelationshipFilter{}, queryFixture},
		{"resource type", datastore.RelationshipFilter{ResourceType: "document"}, queryFixture[:8]},
		{"resource ids, unsorted", datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"b", "a"}}, []string{
			"document:a#editor@user:alice", "document:a#viewer@group:eng#member", "document:a#viewer@user:alice",
			"document:a#viewer@user:bob", "document:b#viewer@user:*", "document:b#viewer@user:carol"}},
		{"resource ids, repeated", datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"ab", "ab"}}, []string{"document:ab#owner@user:alice"}},
		{"resource id prefix", datastore.RelationshipFilter{ResourceType: "document", ResourceIDPrefix: "a"}, queryFixture[:5]},
		{"resource ids and prefix", datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a", "ab"}, ResourceIDPrefix: "ab"}, []string{"document:ab#owner@user:alice"}},
		{"resource ids without type", datastore.RelationshipFilter{ResourceIDs: []string{"f1"}}, []string{"folder:f1#viewer@group:eng#member", "folder:f1#viewer@user:alice"}},
		{"relation", datastore.RelationshipFilter{ResourceType: "document", Relation: "viewer"}, []string{
			"document:a#viewer@group:eng#member", "document:a#viewer@user:alice", "document:a#viewer@user:bob",
			"document:b#viewer@user:*", "document:b#viewer@user:carol"}},
		{"relation without type", datastore.RelationshipFilter{Relation: "owner"}, []string{"document:ab#owner@user:alice", "folder:f2#owner@group:eng"}},
		{"subject type", datastore.RelationshipFilter{ResourceType: "document", Subject: &datastore.SubjectFilter{Type: "user"}}, []string{
			"document:a#editor@user:alice", "document:a#viewer@user:alice", "document:a#viewer@user:bob",
			"document:ab#owner@user:alice", "document:b#viewer@user:*", "document:b#viewer@user:carol"}},
		{"wildcard subject", datastore.RelationshipFilter{Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{tuple.Wildcard}}}, []string{"document:b#viewer@user:*"}},
		{"subject relation", datastore.RelationshipFilter{Subject: &datastore.SubjectFilter{Type: "group", Relations: []string{"member"}}}, []string{
			"document:a#viewer@group:eng#member", "folder:f1#viewer@group:eng#member"}},
		{"subject without relation", datastore.RelationshipFilter{Subject: &datastore.SubjectFilter{Type: "group", Relations: []string{""}}}, []string{"folder:f2#owner@group:eng"}},
		{"subject relations, with and without", datastore.RelationshipFilter{Subject: &datastore.SubjectFilter{Type: "group", IDs: []string{"eng"}, Relations: []string{"admin", ""}}}, []string{
			"folder:f2#owner@group:eng", "folder:f2#viewer@group:eng#admin"}},
		{"subject ids", datastore.RelationshipFilter{ResourceType: "group", Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{"bob", "alice"}}}, []string{
			"group:eng#member@user:alice", "group:eng#member@user:bob"}},
		{"exact relationship", datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a"}, Relation: "viewer",
			Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{"alice"}, Relations: []string{""}}}, []string{"document:a#viewer@user:alice"}},
		{"exact subject set", datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a"}, Relation: "viewer",
			Subject: &datastore.SubjectFilter{Type: "group", IDs: []string{"eng"}, Relations: []string{"member"}}}, []string{"document:a#viewer@group:eng#member"}},
		{"subject set is not the object", datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a"}, Relation: "viewer",
			Subject: &datastore.SubjectFilter{Type: "group", IDs: []string{"eng"}, Relations: []string{""}}}, []string{}},
		{"unknown type", datastore.RelationshipFilter{ResourceType: "nosuch"}, []string{}},
		{"prefix of a type is not the type", datastore.RelationshipFilter{ResourceType: "doc"}, []string{}},
		{"limit", datastore.RelationshipFilter{ResourceType: "document"}, queryFixture[:3]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &harness{t: t, ds: h.ds, clock: h.clock}
			opts := datastore.QueryOptions{}
			if c.name == "limit" {
				opts.Limit = 3
			}
			equalStrings(t, fmt.Sprintf("QueryRelationships(%+v)", c.filter), h.query(def, rev, c.filter, opts), c.want)
		})
	}
}

func testReverseQueryFilters(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	rev := h.mustWrite(def, datastore.OpTouch, queryFixture...)
	cases := []struct {
		name    string
		subject datastore.SubjectFilter
		opts    datastore.ReverseQueryOptions
		want    []string
	}{
		{"subject type, ordered by subject then key", datastore.SubjectFilter{Type: "user"}, datastore.ReverseQueryOptions{}, []string{
			"document:b#viewer@user:*",
			"document:a#editor@user:alice", "document:a#viewer@user:alice", "document:ab#owner@user:alice",
			"folder:f1#viewer@user:alice", "group:eng#member@user:alice", "organization:acme#member@user:alice",
			"document:a#viewer@user:bob", "group:eng#member@user:bob",
			"document:b#viewer@user:carol"}},
		{"subject id and resource type", datastore.SubjectFilter{Type: "user", IDs: []string{"alice"}}, datastore.ReverseQueryOptions{ResourceType: "document"}, []string{
			"document:a#editor@user:alice", "document:a#viewer@user:alice", "document:ab#owner@user:alice"}},
		{"resource type and relation", datastore.SubjectFilter{Type: "user", IDs: []string{"alice"}}, datastore.ReverseQueryOptions{ResourceType: "document", Relation: "viewer"}, []string{
			"document:a#viewer@user:alice"}},
		{"relation only", datastore.SubjectFilter{Type: "user", IDs: []string{"bob", "alice"}}, datastore.ReverseQueryOptions{Relation: "member"}, []string{
			"group:eng#member@user:alice", "organization:acme#member@user:alice", "group:eng#member@user:bob"}},
		{"subject relations in order", datastore.SubjectFilter{Type: "group", IDs: []string{"eng"}}, datastore.ReverseQueryOptions{}, []string{
			"folder:f2#owner@group:eng", "folder:f2#viewer@group:eng#admin",
			"document:a#viewer@group:eng#member", "folder:f1#viewer@group:eng#member"}},
		{"subject relation", datastore.SubjectFilter{Type: "group", IDs: []string{"eng"}, Relations: []string{"member"}}, datastore.ReverseQueryOptions{}, []string{
			"document:a#viewer@group:eng#member", "folder:f1#viewer@group:eng#member"}},
		{"subject without relation", datastore.SubjectFilter{Type: "group", Relations: []string{""}}, datastore.ReverseQueryOptions{}, []string{"folder:f2#owner@group:eng"}},
		{"wildcard", datastore.SubjectFilter{Type: "user", IDs: []string{tuple.Wildcard}}, datastore.ReverseQueryOptions{}, []string{"document:b#viewer@user:*"}},
		{"subject type used once", datastore.SubjectFilter{Type: "folder"}, datastore.ReverseQueryOptions{}, []string{"document:c1#parent@folder:f1"}},
		{"unknown subject type", datastore.SubjectFilter{Type: "nosuch"}, datastore.ReverseQueryOptions{}, []string{}},
		{"unknown subject id", datastore.SubjectFilter{Type: "user", IDs: []string{"zed"}}, datastore.ReverseQueryOptions{}, []string{}},
		{"limit", datastore.SubjectFilter{Type: "user"}, datastore.ReverseQueryOptions{Limit: 2}, []string{"document:b#viewer@user:*", "document:a#editor@user:alice"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &harness{t: t, ds: h.ds, clock: h.clock}
			equalStrings(t, fmt.Sprintf("ReverseQueryRelationships(%+v, %+v)", c.subject, c.opts), h.reverse(def, rev, c.subject, c.opts), c.want)
		})
	}
}

// testQueryRandomFilters compares many random forward and reverse queries, paged with
// random limits, with the model.
func testQueryRandomFilters(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	rng := rand.New(rand.NewPCG(11, 13))
	m := newModel()
	mtx := m.begin(h.clock.Now())
	var ups []datastore.Update
	for range 70 {
		// Expiring relationships expire after now; the clock does not move here.
		u := datastore.Update{Op: datastore.OpTouch, Relationship: randomRel(rng, h.clock.Now())}
		mtx.apply(u)
		ups = append(ups, u)
	}
	rev := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error { return tx.WriteRelationships(ctx, ups) })
	m.commit(mtx)
	now := h.clock.Now()
	for i := range 300 {
		f := randomFilter(rng)
		want := formatAll(m.visible(rev, now, f.Matches))
		limit := rng.IntN(5)
		got := h.pageForward(def, rev, f, limit)
		equalStrings(t, fmt.Sprintf("query %d: QueryRelationships(%+v) in pages of %d", i, f, limit), got, want)
	}
	for i := range 300 {
		sf := *randomSubjectFilter(rng)
		var opts datastore.ReverseQueryOptions
		if rng.IntN(2) == 0 {
			opts.ResourceType = pick(rng, randResourceTypes)
		}
		if rng.IntN(2) == 0 {
			opts.Relation = pick(rng, randRelations)
		}
		match := func(r tuple.Relationship) bool {
			return sf.Matches(r.Subject) && (opts.ResourceType == "" || r.Resource.Type == opts.ResourceType) &&
				(opts.Relation == "" || r.Relation == opts.Relation)
		}
		want := sortedReverse(m.visible(rev, now, match))
		limit := rng.IntN(5)
		got := h.pageReverse(def, rev, sf, opts, limit)
		equalStrings(t, fmt.Sprintf("reverse query %d: ReverseQueryRelationships(%+v, %+v) in pages of %d", i, sf, opts, limit), got, want)
	}
}

// pageForward reads a forward query in pages of limit (0: one page), resuming each
// page after the last key of the previous one.
func (h *harness) pageForward(tenant string, rev datastore.Revision, f datastore.RelationshipFilter, limit int) []string {
	h.t.Helper()
	out := []string{}
	var after *tuple.Key
	for page := 0; ; page++ {
		rels := collectRels(h.t, h.ds.SnapshotReader(tenant, rev).QueryRelationships(h.ctx(), f, datastore.QueryOptions{Limit: limit, After: after}))
		if limit > 0 && len(rels) > limit {
			h.t.Fatalf("page %d of QueryRelationships(%+v) has %d relationships, more than the limit %d", page, f, len(rels), limit)
		}
		out = append(out, formatAll(rels)...)
		if limit == 0 || len(rels) < limit {
			return out
		}
		k := rels[len(rels)-1].Key()
		after = &k
	}
}

// pageReverse is pageForward for reverse queries.
func (h *harness) pageReverse(tenant string, rev datastore.Revision, sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions, limit int) []string {
	h.t.Helper()
	out := []string{}
	opts.Limit = limit
	for page := 0; ; page++ {
		rels := collectRels(h.t, h.ds.SnapshotReader(tenant, rev).ReverseQueryRelationships(h.ctx(), sf, opts))
		if limit > 0 && len(rels) > limit {
			h.t.Fatalf("page %d of ReverseQueryRelationships(%+v) has %d relationships, more than the limit %d", page, sf, len(rels), limit)
		}
		out = append(out, formatAll(rels)...)
		if limit == 0 || len(rels) < limit {
			return out
		}
		k := rels[len(rels)-1].Key()
		opts.After = &k
	}
}

// gridRels returns n documents × the given users as viewer relationships, ids
// zero-padded so text order is numeric order.
func gridRels(prefix string, n int, users ...string) []string {
	var out []string
	for i := range n {
		for _, u := range users {
			out = append(out, fmt.Sprintf("document:%s%03d#viewer@user:%s", prefix, i, u))
		}
	}
	return out
}

func testPagination(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	rels := gridRels("doc", 100, "alice", "bob", "carol")
	rev := h.mustWrite(def, datastore.OpTouch, rels...)
	all := sortedForward(parseAll(rels...))
	docs := datastore.RelationshipFilter{ResourceType: "document"}
	for _, limit := range []int{1, 7, 100, 299, 300, 301, 1000} {
		equalStrings(t, fmt.Sprintf("forward pages of %d", limit), h.pageForward(def, rev, docs, limit), all)
	}
	users := datastore.SubjectFilter{Type: "user"}
	allRev := sortedReverse(parseAll(rels...))
	for _, limit := range []int{1, 5, 100, 300, 301} {
		equalStrings(t, fmt.Sprintf("reverse pages of %d", limit), h.pageReverse(def, rev, users, datastore.ReverseQueryOptions{}, limit), allRev)
	}
	// A cursor need not be a stored key: results resume strictly after it.
	after := datastore.QueryOptions{After: keyOf("document:doc049#viewer@user:bz"), Limit: 2}
	equalStrings(t, "a page after a key that is not stored",
		h.query(def, rev, docs, after), []string{"document:doc049#viewer@user:carol", "document:doc050#viewer@user:alice"})
	after.After = keyOf("document:doc099#viewer@user:carol")
	equalStrings(t, "a page after the last key", h.query(def, rev, docs, after), []string{})
	after.After = keyOf("aaa:x#viewer@user:alice")
	equalStrings(t, "a page after a key before every stored key", h.query(def, rev, docs, after), all[:2])
	revAfter := datastore.ReverseQueryOptions{After: keyOf("document:doc098#viewer@user:bob"), Limit: 3}
	equalStrings(t, "a reverse page after a cursor",
		h.reverse(def, rev, users, revAfter), []string{"document:doc099#viewer@user:bob", "document:doc000#viewer@user:carol", "document:doc001#viewer@user:carol"})
	// With resource ids, the cursor resumes inside the right id and skips earlier ones.
	ids := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"doc007", "doc003", "doc005"}}
	equalStrings(t, "a page of several resource ids after a cursor",
		h.query(def, rev, ids, datastore.QueryOptions{After: keyOf("document:doc003#viewer@user:carol"), Limit: 4}),
		[]string{"document:doc005#viewer@user:alice", "document:doc005#viewer@user:bob", "document:doc005#viewer@user:carol", "document:doc007#viewer@user:alice"})
}

// testPaginationWhileWriting pages through a reader at a fixed revision while other
// transactions delete, rewrite and add relationships before and after the cursor: the
// pages still add up to exactly the revision's contents.
func testPaginationWhileWriting(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	rels := gridRels("doc", 60, "alice", "bob")
	rev := h.mustWrite(def, datastore.OpTouch, rels...)
	want := sortedForward(parseAll(rels...))
	docs := datastore.RelationshipFilter{ResourceType: "document"}
	var got []string
	var after *tuple.Key
	for page := 0; ; page++ {
		rs := collectRels(t, h.ds.SnapshotReader(def, rev).QueryRelationships(h.ctx(), docs, datastore.QueryOptions{Limit: 10, After: after}))
		got = append(got, formatAll(rs)...)
		if len(rs) < 10 {
			break
		}
		k := rs[len(rs)-1].Key()
		after = &k
		n := page * 10
		h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, []datastore.Update{
				// Behind the cursor, at the cursor and ahead of it.
				{Op: datastore.OpDelete, Relationship: tuple.MustParse(fmt.Sprintf("document:doc%03d#viewer@user:alice", n/2))},
				{Op: datastore.OpDelete, Relationship: rs[len(rs)-1]},
				{Op: datastore.OpDelete, Relationship: tuple.MustParse(fmt.Sprintf("document:doc%03d#viewer@user:bob", n/2+6))},
				{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf(`document:doc%03d#viewer@user:alice[in_region:{"page":%d}]`, n/2+7, page))},
				{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:doc%03d#viewer@user:alf", n/2+5))},
				{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:doc%03d#viewer@user:abe", n/2))},
				{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:doc%03da#viewer@user:abe", n/2+3))},
			})
		})
	}
	equalStrings(t, fmt.Sprintf("pages read at revision %d while writes committed", rev), got, want)
	// Reverse pages at the same revision, with writes in between.
	users := datastore.SubjectFilter{Type: "user"}
	wantRev := sortedReverse(parseAll(rels...))
	var gotRev []string
	opts := datastore.ReverseQueryOptions{Limit: 9}
	for page := 0; ; page++ {
		rs := collectRels(t, h.ds.SnapshotReader(def, rev).ReverseQueryRelationships(h.ctx(), users, opts))
		gotRev = append(gotRev, formatAll(rs)...)
		if len(rs) < 9 {
			break
		}
		k := rs[len(rs)-1].Key()
		opts.After = &k
		h.mustWrite(def, datastore.OpTouch, fmt.Sprintf("document:doc%03d#viewer@user:alice", page), fmt.Sprintf("document:doc%03d#viewer@user:aaron", 59-page))
		h.mustWrite(def, datastore.OpDelete, rs[0].String(), fmt.Sprintf("document:doc%03d#viewer@user:bob", page*2))
	}
	equalStrings(t, fmt.Sprintf("reverse pages read at revision %d while writes committed", rev), gotRev, wantRev)
	// Paging at the moving head never repeats a key and never goes backwards.
	var last *tuple.Key
	seen := map[tuple.Key]bool{}
	for page := 0; page < 200; page++ {
		head := h.head(def)
		rs := collectRels(t, h.ds.SnapshotReader(def, head).QueryRelationships(h.ctx(), docs, datastore.QueryOptions{Limit: 7, After: last}))
		for _, r := range rs {
			k := r.Key()
			if seen[k] || (last != nil && k.Compare(*last) <= 0) {
				t.Fatalf("paging at the head returned %s after the cursor %v", r, last)
			}
			seen[k] = true
		}
		if len(rs) < 7 {
			break
		}
		k := rs[len(rs)-1].Key()
		last = &k
		h.mustWrite(def, datastore.OpTouch, fmt.Sprintf("document:doc%03d#viewer@user:zoe", page), fmt.Sprintf("document:doc%03d#viewer@user:zoe", 59-page))
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// findNode returns the first node of the tree (depth first) that matches.
func findNode(n *ExplainNode, match func(*ExplainNode) bool) *ExplainNode {
	if n == nil {
		return nil
	}
	if match(n) {
		return n
	}
	for _, c := range n.Children {
		if f := findNode(c, match); f != nil {
			return f
		}
	}
	return nil
}

func relationshipNode(text string) func(*ExplainNode) bool {
	return func(n *ExplainNode) bool {
		return n.Kind == NodeRelationship && n.Relationship != nil && tuple.Format(*n.Relationship) == text
	}
}

func TestExplain(t *testing.T) {
	f := newFixture(t, docSchema,
		"document:d1#viewer@group:eng#member",
		"group:eng#member@user:alice",
		"document:d1#banned@user:mallory",
		"group:eng#member@user:mallory",
	)
	req := f.req("document:d1#view@user:alice", "")
	req.Explain = true
	r, err := f.e.Check(context.Background(), req)
	if err != nil || r.Permissionship != HasPermission {
		t.Fatalf("check: %v %v", answer(r), err)
	}
	root := r.Explanation
	if root == nil || root.Kind != NodePermission || root.Relation != "view" || root.Result != HasPermission ||
		root.Expression != "(viewer + edit + folder->view) - banned" || root.Resource.String() != "document:d1" {
		t.Fatalf("root = %+v", root)
	}
	if root.Duration <= 0 {
		t.Errorf("root has no duration")
	}
	if n := findNode(root, func(n *ExplainNode) bool { return n.Kind == NodeExclusion }); n == nil || n.Result != HasPermission {
		t.Errorf("no exclusion node: %+v", n)
	}
	for _, rel := range []string{"document:d1#viewer@group:eng#member", "group:eng#member@user:alice"} {
		n := findNode(root, relationshipNode(rel))
		if n == nil || n.Result != HasPermission {
			t.Errorf("relationship %s: %+v", rel, n)
		}
	}
	// The granting subject set node sits under the relationship that led to it.
	via := findNode(root, relationshipNode("document:d1#viewer@group:eng#member"))
	if via == nil || findNode(via, func(n *ExplainNode) bool {
		return n.Kind == NodeRelation && n.Resource.String() == "group:eng" && n.Relation == "member" && n.Result == HasPermission
	}) == nil {
		t.Errorf("group:eng#member is not explained under the relationship that reached it")
	}

	// A denial explains the branch that denied: mallory is banned.
	req = f.req("document:d1#view@user:mallory", "")
	req.Explain = true
	r, err = f.e.Check(context.Background(), req)
	if err != nil || r.Permissionship != NoPermission {
		t.Fatalf("mallory: %v %v", answer(r), err)
	}
	if n := findNode(r.Explanation, relationshipNode("document:d1#banned@user:mallory")); n == nil || n.Result != HasPermission {
		t.Errorf("the ban is not in the explanation")
	}

	// Once cached (an answer enters the cache the second time it is computed), the
	// explanation is still complete and flags the cached node.
	for range 2 {
		if _, err := f.e.Check(context.Background(), f.req("document:d1#view@user:alice", "")); err != nil {
			t.Fatal(err)
		}
	}
	req = f.req("document:d1#view@user:alice", "")
	req.Explain = true
	r, err = f.e.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Explanation.Cached || findNode(r.Explanation, relationshipNode("group:eng#member@user:alice")) == nil {
		t.Errorf("cached explanation: cached=%v, complete=%v", r.Explanation.Cached, findNode(r.Explanation, relationshipNode("group:eng#member@user:alice")) != nil)
	}

	// Caveats and cycles show up as their own nodes.
	cf := newFixture(t, `
definition user {}
caveat on_weekday(day string) { day != "sun" }
definition group { relation member: user with on_weekday | group#member }`,
		"group:a#member@group:b#member", "group:b#member@group:a#member", "group:b#member@user:u1[on_weekday]")
	req = cf.req("group:a#member@user:u1", "")
	req.Explain = true
	r, err = cf.e.Check(context.Background(), req)
	if err != nil || r.Permissionship != Conditional {
		t.Fatalf("caveated: %v %v", answer(r), err)
	}
	if n := findNode(r.Explanation, func(n *ExplainNode) bool { return n.Kind == NodeCaveat }); n == nil || n.Caveat != "on_weekday" || !slices.Equal(n.MissingContext, []string{"day"}) {
		t.Errorf("caveat node: %+v", n)
	}
	if n := findNode(r.Explanation, func(n *ExplainNode) bool { return n.Kind == NodeCycle }); n == nil || n.Resource.String() != "group:a" {
		t.Errorf("cycle node: %+v", n)
	}
}

// TestExpiryThroughTheCache checks that cached answers end when a relationship they
// depended on expires: directly, through a subject set, and through an exclusion
// (where the expiry turns a no into a yes).
func TestExpiryThroughTheCache(t *testing.T) {
	const s = `
use expiration
definition user {}
definition group { relation member: user with expiration }
definition document {
	relation viewer: user with expiration | group#member
	relation banned: user with expiration
	permission view = viewer - banned
}`
	f := newFixture(t, s,
		"document:direct#viewer@user:alice[expiration:2026-01-01T12:10:00Z]",
		"document:via#viewer@group:g#member",
		"group:g#member@user:bob[expiration:2026-01-01T12:20:00Z]",
		"document:ban#viewer@group:g#member",
		"group:g#member@user:carol",
		"document:ban#banned@user:carol[expiration:2026-01-01T12:30:00Z]",
	)
	steps := []struct {
		at    time.Duration // since 12:00
		want  map[string]string
		cache bool
	}{
		{0, map[string]string{"direct/alice": "allowed", "via/bob": "allowed", "ban/carol": "denied"}, false},
		{5 * time.Minute, map[string]string{"direct/alice": "allowed", "via/bob": "allowed", "ban/carol": "denied"}, true},
		{15 * time.Minute, map[string]string{"direct/alice": "denied", "via/bob": "allowed", "ban/carol": "denied"}, false},
		{25 * time.Minute, map[string]string{"direct/alice": "denied", "via/bob": "denied", "ban/carol": "denied"}, false},
		{35 * time.Minute, map[string]string{"direct/alice": "denied", "via/bob": "denied", "ban/carol": "allowed"}, false},
	}
	start := f.clock.Now()
	for i, st := range steps {
		f.clock.Advance(start.Add(st.at).Sub(f.clock.Now()))
		if i == 0 {
			// Ask once more first: answers enter the cache on their second computation.
			for k := range st.want {
				doc, user, _ := strings.Cut(k, "/")
				f.check(fmt.Sprintf("document:%s#view@user:%s", doc, user), "")
			}
		}
		before := f.e.Metrics().CacheHits
		for k, want := range st.want {
			doc, user, _ := strings.Cut(k, "/")
			if got := f.check(fmt.Sprintf("document:%s#view@user:%s", doc, user), ""); got != want {
				t.Errorf("at +%v: %s = %s, want %s", st.at, k, got, want)
			}
		}
		if hits := f.e.Metrics().CacheHits - before; st.cache && hits == 0 {
			t.Errorf("at +%v: no cache hits before anything expired", st.at)
		}
	}
}

func TestConsistencyModes(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	ds := newStore(t, clk, 5*time.Second)
	e := New(ds, Config{Now: clk.Now})
	ctx := context.Background()
	write := func(fn func(ctx context.Context, tx datastore.ReadWriteTx) error) datastore.Revision {
		rev, err := ds.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{}, fn)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	r1 := write(func(ctx context.Context, tx datastore.ReadWriteTx) error { return tx.WriteSchema(ctx, docSchema) })
	resolve := func(c Consistency) datastore.Revision {
		t.Helper()
		rev, err := e.ResolveRevision(ctx, tuple.DefaultTenant, c)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	if got := resolve(Consistency{Mode: MinimizeLatency}); got != r1 {
		t.Fatalf("minimize latency = %d, want %d", got, r1)
	}
	r2 := write(func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpTouch, Relationship: tuple.MustParse("document:d#viewer@user:alice")}})
	})
	check := func(rev datastore.Revision) Permissionship {
		t.Helper()
		r, err := e.Check(ctx, CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Permissionship
	}
	// Within the quantisation window the quantised revision stays put (and its cached
	// answer too); the client's token and full consistency see the write.
	ml := resolve(Consistency{Mode: MinimizeLatency})
	if ml != r1 || check(ml) != NoPermission {
		t.Errorf("minimize latency inside the window: rev %d answer %v", ml, check(ml))
	}
	if got := resolve(Consistency{Mode: AtLeastAsFresh, Revision: r2}); got != r2 || check(got) != HasPermission {
		t.Errorf("at least as fresh as r2 = %d", got)
	}
	if got := resolve(Consistency{Mode: AtLeastAsFresh, Revision: r1}); got != r1 {
		t.Errorf("at least as fresh as r1 (older than quantised) = %d, want %d", got, r1)
	}
	if got := resolve(Consistency{Mode: FullyConsistent}); got != r2 || check(got) != HasPermission {
		t.Errorf("fully consistent = %d", got)
	}
	if got := resolve(Consistency{Mode: AtExactSnapshot, Revision: r1}); got != r1 || check(got) != NoPermission {
		t.Errorf("exact snapshot r1 = %d", got)
	}
	var revErr *datastore.RevisionError
	if _, err := e.ResolveRevision(ctx, tuple.DefaultTenant, Consistency{Mode: AtExactSnapshot, Revision: r2 + 10}); !errors.As(err, &revErr) {
		t.Errorf("exact snapshot in the future: %v", err)
	}
	if _, err := e.ResolveRevision(ctx, tuple.DefaultTenant, Consistency{Mode: AtLeastAsFresh, Revision: r2 + 10}); !errors.As(err, &revErr) {
		t.Errorf("at least as fresh as a future revision: %v", err)
	}
	// After the window the quantised revision moves on.
	clk.Advance(6 * time.Second)
	if got := resolve(Consistency{Mode: MinimizeLatency}); got != r2 || check(got) != HasPermission {
		t.Errorf("minimize latency after the window = %d", got)
	}
	// A revoke: the old revision keeps its answer, the new one does not grant.
	r3 := write(func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpDelete, Relationship: tuple.MustParse("document:d#viewer@user:alice")}})
	})
	if check(r3) != NoPermission || check(r2) != HasPermission {
		t.Errorf("after revoke: r3 %v r2 %v", check(r3), check(r2))
	}

	// Schemas are read at the revision: a later schema change does not affect r1.
	r4 := write(func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteSchema(ctx, "definition user {}\ndefinition document { relation reader: user }")
	})
	s1, err := e.Schema(ctx, tuple.DefaultTenant, r1)
	if err != nil || s1.Definitions["document"].Relations["view"] == nil {
		t.Errorf("schema at r1: %v", err)
	}
	s4, err := e.Schema(ctx, tuple.DefaultTenant, r4)
	if err != nil || s4.Definitions["document"].Relations["view"] != nil {
		t.Errorf("schema at r4: %v", err)
	}
	if _, err := e.Check(ctx, CheckRequest{Tenant: tuple.DefaultTenant, Revision: r4, Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "alice"}}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("view under the new schema: %v", err)
	}
}

func TestForgetTenant(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	ds := newStore(t, clk, time.Second)
	e := New(ds, Config{Now: clk.Now})
	ctx := context.Background()
	setup := func(rels ...string) datastore.Revision {
		if err := ds.CreateTenant(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		var ups []datastore.Update
		for _, r := range rels {
			ups = append(ups, datastore.Update{Op: datastore.OpTouch, Relationship: tuple.MustParse(r)})
		}
		rev, err := ds.ReadWriteTx(ctx, "acme", datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			if err := tx.WriteSchema(ctx, docSchema); err != nil {
				return err
			}
			return tx.WriteRelationships(ctx, ups)
		})
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	check := func(rev datastore.Revision) Permissionship {
		r, err := e.Check(ctx, CheckRequest{Tenant: "acme", Revision: rev, Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Permissionship
	}
	rev := setup("document:d#viewer@user:alice")
	if check(rev) != HasPermission {
		t.Fatal("not granted")
	}
	if err := ds.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	e.ForgetTenant("acme")
	rev2 := setup()
	if rev2 != rev {
		t.Fatalf("the recreated tenant is at revision %d, not %d: the test does not exercise reuse", rev2, rev)
	}
	if check(rev2) != NoPermission {
		t.Error("a recreated tenant saw the deleted tenant's cached answer")
	}
}

func TestCheckBulk(t *testing.T) {
	f := newFixture(t, docSchema, "document:d1#viewer@user:alice", "document:d2#owner@user:bob", "document:d3#viewer@group:eng#member", "group:eng#member@user:alice")
	mk := func(check string) CheckRequest { return f.req(check, "") }
	reqs := []CheckRequest{
		mk("document:d1#view@user:alice"),
		mk("document:d2#view@user:alice"),
		mk("document:d3#view@user:alice"),
		mk("document:d1#view@user:alice"), // duplicate
		mk("document:d2#edit@user:bob"),
		{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "d1"}, Permission: "nope", Subject: tuple.SubjectRef{Type: "user", ID: "alice"}},
		{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "bad id"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "alice"}},
		mk("document:d2#view@user:bob"),
	}
	explained := mk("document:d3#view@user:alice")
	explained.Explain = true
	reqs = append(reqs, explained)
	want := []string{"allowed", "denied", "allowed", "allowed", "allowed", "error:nope", "error:bad id", "allowed", "allowed"}
	out := f.e.CheckBulk(context.Background(), reqs)
	if len(out) != len(reqs) {
		t.Fatalf("%d results for %d requests", len(out), len(reqs))
	}
	for i, r := range out {
		got := answer(r.Result)
		if r.Err != nil {
			got = "error:" + r.Err.Error()
		}
		if !strings.HasPrefix(got, want[i]) && !(strings.HasPrefix(want[i], "error:") && strings.Contains(got, strings.TrimPrefix(want[i], "error:"))) {
			t.Errorf("result %d (%+v) = %s, want %s", i, reqs[i].Resource, got, want[i])
		}
	}
	// A group larger than one batch.
	var many []CheckRequest
	var rels []string
	for i := range 150 {
		if i%3 == 0 {
			rels = append(rels, fmt.Sprintf("document:m%03d#viewer@user:alice", i))
		}
	}
	f.touch(rels...)
	for i := range 150 {
		many = append(many, mk(fmt.Sprintf("document:m%03d#view@user:alice", i)))
	}
	for i, r := range f.e.CheckBulk(context.Background(), many) {
		if want := i%3 == 0; r.Err != nil || (r.Result.Permissionship == HasPermission) != want {
			t.Errorf("many[%d] = %v %v, want allowed=%v", i, answer(r.Result), r.Err, want)
		}
	}
	if out[8].Result.Explanation == nil {
		t.Error("the explained entry has no explanation")
	}
	// The three document#view@user:alice checks were one batch: one dispatch each,
	// plus their sub-problems, and the duplicate was not evaluated twice.
	if out[0].Result.Stats.Dispatches == 0 || out[0].Result.Stats != out[2].Result.Stats {
		t.Errorf("batch stats differ: %+v %+v", out[0].Result.Stats, out[2].Result.Stats)
	}
}

func TestPermissions(t *testing.T) {
	const s = `
definition user {}
caveat on_weekday(day string) { day != "sun" }
definition document {
	relation owner: user
	relation viewer: user | user with on_weekday
	permission edit = owner
	permission view = viewer + edit
	grant viewer by edit
}`
	f := newFixture(t, s, "document:d#owner@user:alice", "document:d#viewer@user:bob[on_weekday]")
	for _, tc := range []struct {
		user string
		want string
	}{
		{"alice", "owner=allowed viewer=denied edit=allowed view=allowed"},
		{"bob", "owner=denied viewer=conditional[day] edit=denied view=conditional[day]"},
	} {
		rs, err := f.e.Permissions(context.Background(), PermissionsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Subject: tuple.SubjectRef{Type: "user", ID: tc.user}})
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, r := range rs {
			parts = append(parts, r.Permission+"="+answer(CheckResult{Permissionship: r.Permissionship, MissingContext: r.MissingContext}))
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.user, got, tc.want)
		}
	}
	// The synthetic grant permission is left out of the list but can be checked.
	r, err := f.e.Check(context.Background(), CheckRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Permission: "grant:viewer", Subject: tuple.SubjectRef{Type: "user", ID: "alice"}})
	if err != nil || r.Permissionship != HasPermission {
		t.Errorf("grant permission: %v %v", answer(r), err)
	}
	if _, err := f.e.Permissions(context.Background(), PermissionsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "documnt", ID: "d"}, Subject: tuple.SubjectRef{Type: "user", ID: "x"}}); err == nil || !strings.Contains(err.Error(), "documnt") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestExpand(t *testing.T) {
	f := newFixture(t, `
use expiration
definition user {}
caveat on_weekday(day string) { day != "sun" }
definition group { relation member: user | group#member }
definition folder { relation parent: folder
	relation viewer: user
	permission view = viewer + parent->view }
definition document {
	relation folder: folder
	relation viewer: user | user:* | group#member | user with on_weekday | user with expiration
	relation banned: user
	permission view = (viewer + folder->view) - banned
}`,
		"document:d#viewer@user:alice", "document:d#viewer@user:*", "document:d#viewer@group:eng#member",
		"document:d#viewer@user:bob[on_weekday]", "document:d#viewer@user:tmp[expiration:2027-01-01T00:00:00Z]",
		"document:d#banned@user:mallory", "document:d#folder@folder:f1",
		"folder:f1#parent@folder:f2", "folder:f2#parent@folder:f1", "folder:f2#viewer@user:carol",
	)
	tree, err := f.e.Expand(context.Background(), ExpandRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Permission: "view"})
	if err != nil {
		t.Fatal(err)
	}
	got := expandText(tree)
	want := `exclusion document:d#view
  union document:d#view
    leaf document:d#viewer group:eng#member user:* user:alice user:bob[on_weekday] user:tmp[exp]
    union document:d#view arrow folder->view
      union folder:f1#view via document:d#folder@folder:f1
        leaf folder:f1#viewer
        union folder:f1#view arrow parent->view
          union folder:f2#view via folder:f1#parent@folder:f2
            leaf folder:f2#viewer user:carol
            union folder:f2#view arrow parent->view
              leaf folder:f1#view via folder:f2#parent@folder:f1
  leaf document:d#banned user:mallory
`
	if got != want {
		t.Errorf("expand tree:\n%s\nwant:\n%s", got, want)
	}
}

// expandText prints an Expand tree one node a line: operation, object relation,
// arrow, relationship followed and subjects.
func expandText(tree *ExpandNode) string {
	var b strings.Builder
	var show func(n *ExpandNode, indent string)
	show = func(n *ExpandNode, indent string) {
		op := map[ExpandOp]string{ExpandLeaf: "leaf", ExpandUnion: "union", ExpandIntersection: "intersection", ExpandExclusion: "exclusion"}[n.Op]
		fmt.Fprintf(&b, "%s%s %s#%s", indent, op, n.Resource, n.Relation)
		if n.Arrow != "" {
			fmt.Fprintf(&b, " arrow %s", n.Arrow)
		}
		if n.Via != nil {
			fmt.Fprintf(&b, " via %s", tuple.Format(*n.Via))
		}
		for _, s := range n.Subjects {
			fmt.Fprintf(&b, " %s", s.Subject)
			if s.Caveat != nil {
				fmt.Fprintf(&b, "[%s]", s.Caveat.Name)
			}
			if !s.Expiration.IsZero() {
				fmt.Fprintf(&b, "[exp]")
			}
		}
		b.WriteString("\n")
		for _, c := range n.Children {
			show(c, indent+"  ")
		}
	}
	show(tree, "")
	return b.String()
}

// TestConcurrentUse hammers one engine from many goroutines while relationships are
// written, and compares every answer with an uncached engine at the same revision.
// Run it with -race.
func TestConcurrentUse(t *testing.T) {
	var rels []string
	for i := range 20 {
		rels = append(rels, fmt.Sprintf("group:g%d#member@group:g%d#member", i, (i+1)%20))
		rels = append(rels, fmt.Sprintf("document:d%d#viewer@group:g%d#member", i, i))
		rels = append(rels, fmt.Sprintf("folder:f%d#parent@folder:f%d", i, (i+3)%20))
		rels = append(rels, fmt.Sprintf("document:d%d#folder@folder:f%d", i, i))
	}
	rels = append(rels, "group:g7#member@user:u7", "folder:f3#viewer@user:u3", "document:d5#banned@user:u7")
	f := newFixtureConfig(t, Config{MaxConcurrency: 4}, docSchema, rels...)
	cold := New(f.ds, Config{CacheSize: -1, MaxConcurrency: 1, Now: f.clock.Now})
	var mu sync.Mutex
	revs := []datastore.Revision{f.rev}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rev := f.touch(fmt.Sprintf("group:g%d#member@user:u%d", i%20, i%5))
			mu.Lock()
			revs = append(revs, rev)
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	errs := make(chan error, 100)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				mu.Lock()
				rev := revs[(w*7+i)%len(revs)]
				mu.Unlock()
				req := CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: tuple.ObjectRef{Type: "document", ID: fmt.Sprintf("d%d", (w+i)%20)}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: fmt.Sprintf("u%d", i%8)}}
				hot, err1 := f.e.Check(context.Background(), req)
				ref, err2 := cold.Check(context.Background(), req)
				if err1 != nil || err2 != nil || hot.Permissionship != ref.Permissionship {
					errs <- fmt.Errorf("%+v: %v/%v %v/%v", req, answer(hot), err1, answer(ref), err2)
					return
				}
				if i%10 == 0 {
					n := 0
					for _, err := range f.e.LookupResources(context.Background(), LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: rev, ResourceType: "document", Permission: "view", Subject: req.Subject}) {
						if err != nil {
							errs <- err
							return
						}
						n++
					}
				}
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			mu.Lock()
			n := len(revs)
			mu.Unlock()
			if n > 5 {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	<-done
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMetricsAndCollector(t *testing.T) {
	f := newFixture(t, docSchema, "document:d#viewer@group:eng#member", "group:eng#member@user:alice")
	r1, err := f.e.Check(context.Background(), f.req("document:d#view@user:alice", ""))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Stats.Dispatches < 3 || r1.Stats.MaxDepth < 3 || r1.Stats.CacheHits != 0 {
		t.Errorf("cold stats: %+v", r1.Stats)
	}
	// The second computation admits the answers to the cache; the third is served
	// from it.
	r2, err := f.e.Check(context.Background(), f.req("document:d#view@user:alice", ""))
	if err != nil {
		t.Fatal(err)
	}
	if r2.Stats.CacheHits != 0 {
		t.Errorf("second stats: %+v", r2.Stats)
	}
	r3, err := f.e.Check(context.Background(), f.req("document:d#view@user:alice", ""))
	if err != nil {
		t.Fatal(err)
	}
	if r3.Stats.CacheHits != 1 || r3.Stats.Dispatches != 1 {
		t.Errorf("warm stats: %+v", r3.Stats)
	}
	m := f.e.Metrics()
	if m.Requests != 3 || m.CacheHits != 1 || m.CacheMisses == 0 || m.Dispatches != uint64(r1.Stats.Dispatches+r2.Stats.Dispatches+r3.Stats.Dispatches) {
		t.Errorf("metrics: %+v", m)
	}
	var perRequest uint64
	for _, n := range m.DispatchesPerRequest {
		perRequest += n
	}
	if perRequest != 3 {
		t.Errorf("dispatch histogram counts %d requests", perRequest)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.e.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, fam := range families {
		found[fam.GetName()] = true
		if fam.GetName() == "pemba_engine_cache_lookups_total" {
			for _, metric := range fam.GetMetric() {
				if metric.GetLabel()[0].GetValue() == "hit" && metric.GetCounter().GetValue() != 1 {
					t.Errorf("hit counter = %v", metric.GetCounter().GetValue())
				}
			}
		}
	}
	for _, name := range []string{"pemba_engine_requests_total", "pemba_engine_dispatches_total", "pemba_engine_cache_lookups_total", "pemba_engine_dispatches_per_request", "pemba_engine_depth_per_request"} {
		if !found[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
}

func TestEllipsisSubjectRelation(t *testing.T) {
	f := newFixture(t, docSchema, "document:d#viewer@user:bob")
	req := f.req("document:d#view@user:bob", "")
	req.Subject.Relation = tuple.Ellipsis
	if r, err := f.e.Check(context.Background(), req); err != nil || r.Permissionship != HasPermission {
		t.Errorf("user:bob#...: %v %v", answer(r), err)
	}
}

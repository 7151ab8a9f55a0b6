package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

const schemaPath = "../../schema/b2b-ciam/schema.zed"

func loadSchema(t testing.TB) (string, *schema.Schema) {
	t.Helper()
	text, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.Compile("schema.zed", string(text))
	if err != nil {
		t.Fatalf("reference schema does not compile: %v", err)
	}
	return string(text), s
}

// smallParams is a dataset of a few thousand relationships with every feature present.
func smallParams(seed uint64) Params {
	p := DefaultParams()
	p.Seed = seed
	p.Trees, p.Chains = 3, 1
	p.Width = 9
	p.ChainDepth = 16
	return p
}

func textOf(t testing.TB, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := m.WriteText(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministic(t *testing.T) {
	a := textOf(t, MustModel(smallParams(7)))
	b := textOf(t, MustModel(smallParams(7)))
	c := textOf(t, MustModel(smallParams(8)))
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatal("the same seed and parameters gave different datasets")
	}
	if sha256.Sum256(a) == sha256.Sum256(c) {
		t.Fatal("different seeds gave the same dataset")
	}
}

// TestRelationshipsValid checks that every relationship is unique, survives the text
// form, and is allowed by the reference schema; and that every feature of the dataset
// description actually occurs.
func TestRelationshipsValid(t *testing.T) {
	_, sch := loadSchema(t)
	m := MustModel(smallParams(3))
	seen := map[tuple.Key]bool{}
	features := map[string]int{}
	for r := range m.Relationships() {
		if seen[r.Key()] {
			t.Fatalf("relationship %s generated twice", r)
		}
		seen[r.Key()] = true
		back, err := tuple.Parse(tuple.Format(r))
		if err != nil {
			t.Fatalf("generated relationship does not parse: %v", err)
		}
		if !back.Equal(r) {
			t.Fatalf("text form round trip changed %s into %s", r, back)
		}
		if err := sch.ValidateRelationship(r); err != nil {
			t.Fatalf("schema refuses generated relationship %s: %v", r, err)
		}
		key := r.Resource.Type + "#" + r.Relation + "@" + r.Subject.Type
		if r.Subject.Relation != "" {
			key += "#" + r.Subject.Relation
		}
		features[key]++
		switch {
		case r.Caveat != nil:
			features["caveat"]++
		case r.Expiration.Equal(ExpiredAt):
			features["expired"]++
		case r.Expiration.Equal(ValidUntil):
			features["expiring"]++
		}
	}
	for _, want := range []string{
		"brand#operator@user", "brand#customer@user", "organization#brand@brand",
		"organization#parent@organization", "organization#admin@user", "organization#member@user",
		"organization#billing_manager@user", "organization#app_manager@user", "organization#suspended@user",
		"organization#member@group#member", "group#member@user", "group#member@group#member",
		"group#owner@organization", "group#manager@user", "project#owner@organization",
		"project#viewer@user", "project#editor@user", "project#viewer@group#member",
		"project#partner@organization", "project#blocked@user", "document#project@project",
		"document#viewer@user", "document#editor@user", "document#viewer@group#member",
		"caveat", "expired", "expiring",
	} {
		if features[want] == 0 {
			t.Errorf("dataset has no %s relationship", want)
		}
	}
	if t.Failed() {
		t.Logf("features: %v", features)
	}
}

func TestForSize(t *testing.T) {
	for _, target := range []int64{10_000, 100_000, 1_000_000} {
		p, err := ForSize(DefaultParams(), target)
		if err != nil {
			t.Fatal(err)
		}
		if target >= 1_000_000 {
			if p.Depth != 8 || p.Width != 81 {
				t.Errorf("size %d: trees changed shape (depth %d, width %d)", target, p.Depth, p.Width)
			}
			if testing.Short() {
				continue
			}
		}
		var n int64
		for range MustModel(p).Relationships() {
			n++
		}
		if n < target*8/10 || n > target*12/10 {
			t.Errorf("size %d: generated %d relationships (%d trees, %d chains, width %d)", target, n, p.Trees, p.Chains, p.Width)
		}
		if p.Trees < 2 || p.Chains < 1 {
			t.Errorf("size %d: %d trees and %d chains, want at least 2 and 1", target, p.Trees, p.Chains)
		}
	}
	for _, bad := range []int64{0, 999, MaxRelationships + 1} {
		if _, err := ForSize(DefaultParams(), bad); err == nil {
			t.Errorf("size %d accepted", bad)
		}
	}
}

func TestValidateNamesTheParameter(t *testing.T) {
	for name, mut := range map[string]func(*Params){
		"fan_out":    func(p *Params) { p.FanOut = 0 },
		"admin_rate": func(p *Params) { p.AdminRate = 1.5 },
		"trees":      func(p *Params) { p.Trees, p.Chains = 0, 0 },
		"depth":      func(p *Params) { p.Depth = -1 },
	} {
		p := DefaultParams()
		mut(&p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name the parameter", name, err)
		}
	}
}

func TestIDsRoundTrip(t *testing.T) {
	o := Org{T: 12, L: 3, X: 7}
	u := User{Org: o, J: 2}
	p := Project{Org: o, P: 1}
	d := Doc{Project: p, D: 9}
	g := Group{T: 4, H: 2, X: 13}
	if got, err := ParseOrg(o.ID()); err != nil || got != o {
		t.Errorf("org %s: %v %v", o.ID(), got, err)
	}
	if got, err := ParseUser(u.ID()); err != nil || got != u {
		t.Errorf("user %s: %v %v", u.ID(), got, err)
	}
	if got, err := ParseUser("staff3"); err != nil || got != (User{J: 3, Staff: true}) {
		t.Errorf("staff: %v %v", got, err)
	}
	if got, err := ParseProject(p.ID()); err != nil || got != p {
		t.Errorf("project %s: %v %v", p.ID(), got, err)
	}
	if got, err := ParseDoc(d.ID()); err != nil || got != d {
		t.Errorf("doc %s: %v %v", d.ID(), got, err)
	}
	if got, err := ParseGroup(g.ID()); err != nil || got != g {
		t.Errorf("group %s: %v %v", g.ID(), got, err)
	}
	for _, bad := range []string{"", "x1-2-3", "t1-2", "t1-a-3", "t-1-2-3"} {
		if _, err := ParseOrg(bad); err == nil {
			t.Errorf("ParseOrg(%q) accepted", bad)
		}
	}
}

// TestTopology pins the tree shapes the README describes.
func TestTopology(t *testing.T) {
	m := MustModel(DefaultParams())
	if got := m.OrgCount(0); got != 1+3+9+27+81*5 {
		t.Errorf("default tree has %d organisations", got)
	}
	if got := m.Depth(m.Params().Trees); got != 16 {
		t.Errorf("chain depth %d", got)
	}
	n := 0
	m.Subtree(Org{T: 0}, func(o Org) {
		n++
		if p, ok := m.Parent(o); ok {
			found := false
			m.Children(p, func(c Org) { found = found || c == o })
			if !found {
				t.Fatalf("%s is not among its parent's children", o.ID())
			}
		}
	})
	if n != m.OrgCount(0) {
		t.Errorf("subtree of the root has %d organisations, tree has %d", n, m.OrgCount(0))
	}
}

// TestQueryPools checks that the query generators produce a useful mix.
func TestQueryPools(t *testing.T) {
	m := MustModel(smallParams(5))
	qs := m.RandomChecks(1, 4000)
	allowed := 0
	for _, q := range qs {
		if q.Expected {
			allowed++
		}
	}
	if allowed < len(qs)/5 || allowed > len(qs)*4/5 {
		t.Errorf("realistic mix allows %d of %d checks", allowed, len(qs))
	}
	again := m.RandomChecks(1, 4000)
	for i := range qs {
		if qs[i] != again[i] {
			t.Fatalf("query stream is not deterministic at %d", i)
		}
	}
	for _, level := range []int{2, 16} {
		deep := m.DeepChecks(2, level, 200)
		if len(deep) < 100 {
			t.Fatalf("level %d: %d deep checks", level, len(deep))
		}
		allowed := 0
		for _, q := range deep {
			if q.Expected {
				allowed++
			}
		}
		if allowed == 0 || allowed == len(deep) {
			t.Errorf("level %d: %d of %d deep checks allowed", level, allowed, len(deep))
		}
	}
	if lr := m.LookupResourcesQueries(3, 10, 100, 3, 2000); len(lr) == 0 {
		t.Error("no user sees 10 to 100 documents")
	}
	if ls := m.LookupSubjectsQueries(4, 3); len(ls) != 3 {
		t.Errorf("%d lookup-subjects queries", len(ls))
	}
}

package dataset

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// CheckQuery is one check with the answer the oracle expects.
type CheckQuery struct {
	Resource   tuple.ObjectRef
	Permission string
	Subject    tuple.SubjectRef
	// ClientIP is the caveat context sent with the check (client_ip).
	ClientIP netip.Addr
	Expected bool
}

// String renders the query as "resource#permission@subject (client_ip) -> answer".
func (q CheckQuery) String() string {
	return fmt.Sprintf("%s#%s@%s client_ip=%s expected=%v", q.Resource, q.Permission, q.Subject, q.ClientIP, q.Expected)
}

// Rand returns a deterministic random source for query stream `stream` of the dataset.
func (m *Model) Rand(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(hash(m.p.Seed, tagQuery, int(stream)), stream))
}

// RandomUser picks a user: a tree uniformly, an organisation of it uniformly, then one
// of its users.
func (m *Model) RandomUser(r *rand.Rand) User {
	t := r.IntN(m.Trees())
	o := m.OrgAt(t, r.IntN(m.OrgCount(t)))
	return User{Org: o, J: r.IntN(m.UserCount(o))}
}

// randomOrg picks an organisation of tree t uniformly.
func (m *Model) randomOrg(r *rand.Rand, t int) Org { return m.OrgAt(t, r.IntN(m.OrgCount(t))) }

// resourceIn picks a resource owned by o: a document (60%), a project (30%) or o itself,
// with a permission the oracle answers, weighted like a portal's traffic.
func (m *Model) resourceIn(r *rand.Rand, o Org) (tuple.ObjectRef, string) {
	n := m.ProjectCount(o)
	x := r.Float64()
	if n > 0 && x < 0.6 {
		p := Project{Org: o, P: r.IntN(n)}
		d := Doc{Project: p, D: r.IntN(m.DocCount(p))}
		if r.Float64() < 0.75 {
			return docRef(d), "view"
		}
		return docRef(d), "edit"
	}
	if n > 0 && x < 0.9 {
		p := projectRef(Project{Org: o, P: r.IntN(n)})
		switch y := r.Float64(); {
		case y < 0.6:
			return p, "view"
		case y < 0.85:
			return p, "edit"
		default:
			return p, "manage"
		}
	}
	switch y := r.Float64(); {
	case y < 0.5:
		return orgRef(o), "manage"
	case y < 0.75:
		return orgRef(o), "active_member"
	case y < 0.9:
		return orgRef(o), "billing"
	default:
		return orgRef(o), "manage_apps"
	}
}

// RandomCheck draws one check of the realistic mix: a user of the dataset (now and
// then a platform operator) asking about a resource near it (its organisation or one
// above it, its tree, something it was granted), across a partnership, or anywhere.
// About two in five answers are allowed.
func (m *Model) RandomCheck(r *rand.Rand) CheckQuery {
	var u User
	if m.p.Staff > 0 && r.Float64() < 0.02 {
		u = User{J: r.IntN(m.p.Staff), Staff: true}
	} else {
		u = m.RandomUser(r)
	}
	var res tuple.ObjectRef
	var perm string
	x := r.Float64()
	switch {
	case u.Staff || x < 0.15:
		t := r.IntN(m.Trees())
		res, perm = m.resourceIn(r, m.randomOrg(r, t))
	case x < 0.55:
		res, perm = m.resourceIn(r, u.Org)
	case x < 0.70:
		res, perm = m.resourceIn(r, m.Ancestor(u.Org, r.IntN(u.Org.L+1)))
	case x < 0.80:
		res, perm = m.resourceIn(r, m.randomOrg(r, u.Org.T))
	case x < 0.85:
		res, perm = m.resourceIn(r, m.randomOrg(r, m.PrevTree(u.Org.T)))
	default:
		res, perm = m.grantedResource(r, u)
	}
	return m.answer(res, perm, u)
}

// grantedResource picks something u holds a grant on (directly, through a group or a
// partnership), falling back to its home organisation.
func (m *Model) grantedResource(r *rand.Rand, u User) (tuple.ObjectRef, string) {
	pr := m.Profile(u)
	var options []tuple.ObjectRef
	for _, a := range pr.projects {
		options = append(options, projectRef(a.p))
		options = append(options, docRef(Doc{Project: a.p, D: r.IntN(m.DocCount(a.p))}))
	}
	for _, a := range pr.docs {
		options = append(options, docRef(a.d))
	}
	for _, ro := range pr.roles {
		if p, _, ok := m.Partnership(ro.org); ok {
			options = append(options, docRef(Doc{Project: p, D: r.IntN(m.DocCount(p))}))
		}
	}
	if len(options) == 0 {
		return m.resourceIn(r, u.Org)
	}
	res := options[r.IntN(len(options))]
	if r.Float64() < 0.7 {
		return res, "view"
	}
	return res, "edit"
}

// Question returns the check of perm on res by u, from u's usual client address, with
// the oracle's answer.
func (m *Model) Question(res tuple.ObjectRef, perm string, u User) CheckQuery {
	return m.answer(res, perm, u)
}

func (m *Model) answer(res tuple.ObjectRef, perm string, u User) CheckQuery {
	ip := m.ClientIP(u)
	ok, err := m.Check(res, perm, userSubject(u), ip)
	if err != nil {
		panic(fmt.Sprintf("dataset generated a question its oracle cannot answer: %v", err))
	}
	return CheckQuery{Resource: res, Permission: perm, Subject: userSubject(u), ClientIP: ip, Expected: ok}
}

// RandomChecks draws n checks of the realistic mix from stream `stream`.
func (m *Model) RandomChecks(stream uint64, n int) []CheckQuery {
	r := m.Rand(stream)
	out := make([]CheckQuery, n)
	for i := range out {
		out[i] = m.RandomCheck(r)
	}
	return out
}

// DeepChecks draws up to n distinct checks on documents and projects owned by chain
// organisations at the given level, asked by users of the same chain (mostly of that
// organisation), so that every answer walks level parent links up to the chain's root.
// It returns nil when the dataset has no chain that deep.
func (m *Model) DeepChecks(stream uint64, level, n int) []CheckQuery {
	if m.p.Chains == 0 || level > m.p.ChainDepth {
		return nil
	}
	r := m.Rand(stream)
	type key struct {
		res  tuple.ObjectRef
		perm string
		u    User
	}
	seen := map[key]bool{}
	var out []CheckQuery
	for tries := 0; len(out) < n && tries < 20*n; tries++ {
		t := m.p.Trees + r.IntN(m.p.Chains)
		o := Org{T: t, L: level}
		np := m.ProjectCount(o)
		if np == 0 {
			continue
		}
		home := o
		if r.Float64() < 0.3 {
			home = Org{T: t, L: r.IntN(m.Depth(t) + 1)}
		}
		u := User{Org: home, J: r.IntN(m.UserCount(home))}
		p := Project{Org: o, P: r.IntN(np)}
		var res tuple.ObjectRef
		perm := "view"
		switch x := r.Float64(); {
		case x < 0.6:
			res = docRef(Doc{Project: p, D: r.IntN(m.DocCount(p))})
		case x < 0.8:
			res = docRef(Doc{Project: p, D: r.IntN(m.DocCount(p))})
			perm = "edit"
		default:
			res = projectRef(p)
		}
		k := key{res, perm, u}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, m.answer(res, perm, u))
	}
	return out
}

// LookupQuery is one LookupResources question with the expected resource ids, sorted.
type LookupQuery struct {
	ResourceType string
	Permission   string
	Subject      tuple.SubjectRef
	ClientIP     netip.Addr
	Expected     []string
}

// LookupResourcesQueries finds up to n users whose document view lookups return
// between lo and hi documents, by sampling admins and members at every level, and
// returns their questions. It examines at most budget users.
func (m *Model) LookupResourcesQueries(stream uint64, lo, hi, n, budget int) []LookupQuery {
	r := m.Rand(stream)
	var out []LookupQuery
	seen := map[User]bool{}
	for i := 0; i < budget && len(out) < n; i++ {
		t := r.IntN(m.Trees())
		// Favour shallow organisations: their admins see large subtrees.
		l := min(r.IntN(m.Depth(t)+1), r.IntN(m.Depth(t)+1))
		o := Org{T: t, L: l, X: r.IntN(m.LevelSize(t, l))}
		u := User{Org: o, J: r.IntN(m.UserCount(o))}
		if seen[u] {
			continue
		}
		seen[u] = true
		ip := m.ClientIP(u)
		ids, err := m.LookupResources(TypeDocument, "view", u, ip)
		if err != nil {
			panic(err)
		}
		if len(ids) >= lo && len(ids) <= hi {
			out = append(out, LookupQuery{ResourceType: TypeDocument, Permission: "view", Subject: userSubject(u), ClientIP: ip, Expected: ids})
		}
	}
	return out
}

// SubjectsQuery is one LookupSubjects question with the expected user ids, sorted.
type SubjectsQuery struct {
	Resource   tuple.ObjectRef
	Permission string
	ClientIP   netip.Addr
	Expected   []string
}

// LookupSubjectsQueries draws n LookupSubjects questions: who may view a random
// document, asked from inside the document's tree's network.
func (m *Model) LookupSubjectsQueries(stream uint64, n int) []SubjectsQuery {
	r := m.Rand(stream)
	var out []SubjectsQuery
	for tries := 0; len(out) < n && tries < 100*n; tries++ {
		t := r.IntN(m.Trees())
		o := m.randomOrg(r, t)
		np := m.ProjectCount(o)
		if np == 0 {
			continue
		}
		p := Project{Org: o, P: r.IntN(np)}
		res := docRef(Doc{Project: p, D: r.IntN(m.DocCount(p))})
		ip := netip.AddrFrom4([4]byte{10, byte(m.NextTree(t) % 250), 1, 1})
		ids, err := m.LookupSubjects(res, "view", ip)
		if err != nil {
			panic(err)
		}
		out = append(out, SubjectsQuery{Resource: res, Permission: "view", ClientIP: ip, Expected: ids})
	}
	return out
}

package dataset

import (
	"fmt"
	"net/netip"
	"time"
)

// Model is a dataset's structure, computed on demand from its parameters. It is
// immutable and safe for concurrent use.
type Model struct {
	p       Params
	tree    shape // a customer tree
	chain   shape // a chain
	groupSz int
}

// shape is the level structure of one kind of tree.
type shape struct {
	fanOut  int
	levels  []int // organisations per level
	offsets []int // index of each level's first organisation; len(levels)+1 entries
}

func newShape(fanOut, depth, width int) shape {
	s := shape{fanOut: fanOut, offsets: []int{0}}
	n := 1
	for range depth + 1 {
		s.levels = append(s.levels, n)
		s.offsets = append(s.offsets, s.offsets[len(s.offsets)-1]+n)
		n = min(n*fanOut, width)
	}
	return s
}

func (s *shape) count() int { return s.offsets[len(s.offsets)-1] }

// NewModel validates p and returns its model.
func NewModel(p Params) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Model{
		p:       p,
		tree:    newShape(p.FanOut, p.Depth, p.Width),
		chain:   newShape(1, p.ChainDepth, 1),
		groupSz: p.GroupTreeSize(),
	}, nil
}

// MustModel is NewModel for parameters known to be valid.
func MustModel(p Params) *Model {
	m, err := NewModel(p)
	if err != nil {
		panic(err)
	}
	return m
}

// Params returns the model's parameters.
func (m *Model) Params() Params { return m.p }

// Trees is the number of trees, chains included (chains come last).
func (m *Model) Trees() int { return m.p.Trees + m.p.Chains }

// IsChain reports whether tree t is a chain.
func (m *Model) IsChain(t int) bool { return t >= m.p.Trees }

func (m *Model) shape(t int) *shape {
	if m.IsChain(t) {
		return &m.chain
	}
	return &m.tree
}

// Depth is the deepest level of tree t.
func (m *Model) Depth(t int) int { return len(m.shape(t).levels) - 1 }

// LevelSize is the number of organisations on level l of tree t.
func (m *Model) LevelSize(t, l int) int { return m.shape(t).levels[l] }

// OrgCount is the number of organisations in tree t.
func (m *Model) OrgCount(t int) int { return m.shape(t).count() }

// OrgAt returns the i-th organisation of tree t in level order.
func (m *Model) OrgAt(t, i int) Org {
	s := m.shape(t)
	for l := range s.levels {
		if i < s.offsets[l+1] {
			return Org{T: t, L: l, X: i - s.offsets[l]}
		}
	}
	panic(fmt.Sprintf("organisation index %d out of range in tree %d", i, t))
}

// OrgIndex is o's position in its tree's level order.
func (m *Model) OrgIndex(o Org) int { return m.shape(o.T).offsets[o.L] + o.X }

// ValidOrg reports whether o exists.
func (m *Model) ValidOrg(o Org) bool {
	return o.T >= 0 && o.T < m.Trees() && o.L >= 0 && o.L <= m.Depth(o.T) && o.X >= 0 && o.X < m.LevelSize(o.T, o.L)
}

// Parent returns o's parent organisation; ok is false for a root.
func (m *Model) Parent(o Org) (parent Org, ok bool) {
	if o.L == 0 {
		return Org{}, false
	}
	return Org{T: o.T, L: o.L - 1, X: o.X / m.shape(o.T).fanOut}, true
}

// Ancestor returns o's ancestor on level l (o itself when l == o.L).
func (m *Model) Ancestor(o Org, l int) Org {
	k := m.shape(o.T).fanOut
	for o.L > l {
		o = Org{T: o.T, L: o.L - 1, X: o.X / k}
	}
	return o
}

// Children calls fn for every child of o.
func (m *Model) Children(o Org, fn func(Org)) {
	s := m.shape(o.T)
	if o.L+1 >= len(s.levels) {
		return
	}
	lo := o.X * s.fanOut
	hi := min(lo+s.fanOut, s.levels[o.L+1])
	for x := lo; x < hi; x++ {
		fn(Org{T: o.T, L: o.L + 1, X: x})
	}
}

// Subtree calls fn for o and every organisation below it.
func (m *Model) Subtree(o Org, fn func(Org)) {
	fn(o)
	m.Children(o, func(c Org) { m.Subtree(c, fn) })
}

// Brand is the brand tree t signed up through.
func (m *Model) Brand(t int) int { return t % m.p.Brands }

// PrevTree is the tree whose projects the organisations of tree t partner with.
func (m *Model) PrevTree(t int) int { return (t - 1 + m.Trees()) % m.Trees() }

// NextTree is the tree whose organisations partner with the projects of tree t.
func (m *Model) NextTree(t int) int { return (t + 1) % m.Trees() }

// Network is the address range partner grants of tree t's organisations allow under
// the within_network caveat.
func (m *Model) Network(t int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(t % 250), 0, 0}), 16)
}

// ClientIP is the address a user's requests come from: inside its tree's network for
// most users, outside every network for the rest (and for staff).
func (m *Model) ClientIP(u User) netip.Addr {
	if u.Staff {
		return netip.AddrFrom4([4]byte{192, 0, 2, byte(u.J)})
	}
	h := hash(m.p.Seed, tagClientIP, u.Org.T, u.Org.L, u.Org.X, u.J)
	if below(h, 0.2) {
		return netip.AddrFrom4([4]byte{192, 0, 2, byte(h >> 8)})
	}
	return netip.AddrFrom4([4]byte{10, byte(u.Org.T % 250), byte(h >> 16), byte(h >> 24)})
}

// UserCount is the number of users whose home is o.
func (m *Model) UserCount(o Org) int {
	return 1 + pick(hash(m.p.Seed, tagUsers, o.T, o.L, o.X), 2*m.p.UsersPerOrg-1)
}

// ValidUser reports whether u exists.
func (m *Model) ValidUser(u User) bool {
	if u.Staff {
		return u.J >= 0 && u.J < m.p.Staff
	}
	return m.ValidOrg(u.Org) && u.J >= 0 && u.J < m.UserCount(u.Org)
}

// ProjectCount is the number of projects o owns. Every organisation of a chain owns
// at least one, so that every depth of a chain can be asked about.
func (m *Model) ProjectCount(o Org) int {
	h := hash(m.p.Seed, tagProjects, o.T, o.L, o.X)
	if m.IsChain(o.T) && m.p.ProjectsPerOrg > 0 {
		return 1 + pick(h, 2*m.p.ProjectsPerOrg)
	}
	return pick(h, 2*m.p.ProjectsPerOrg+1)
}

// ValidProject reports whether p exists.
func (m *Model) ValidProject(p Project) bool {
	return m.ValidOrg(p.Org) && p.P >= 0 && p.P < m.ProjectCount(p.Org)
}

// DocCount is the number of documents in p.
func (m *Model) DocCount(p Project) int {
	return 1 + pick(hash(m.p.Seed, tagDocs, p.Org.T, p.Org.L, p.Org.X, p.P), 2*m.p.DocsPerProject-1)
}

// ValidDoc reports whether d exists.
func (m *Model) ValidDoc(d Doc) bool {
	return m.ValidProject(d.Project) && d.D >= 0 && d.D < m.DocCount(d.Project)
}

// GroupTrees is the number of group trees in tree t.
func (m *Model) GroupTrees(t int) int {
	return (m.OrgCount(t) + m.p.OrgsPerGroupTree - 1) / m.p.OrgsPerGroupTree
}

// GroupTreeSize is the number of groups in one group tree.
func (m *Model) GroupTreeSize() int { return m.groupSz }

// ValidGroup reports whether g exists.
func (m *Model) ValidGroup(g Group) bool {
	return g.T >= 0 && g.T < m.Trees() && g.H >= 0 && g.H < m.GroupTrees(g.T) && g.X >= 0 && g.X < m.groupSz
}

// GroupParent returns the group g is nested in; ok is false for a top group.
func (m *Model) GroupParent(g Group) (Group, bool) {
	if g.X == 0 {
		return Group{}, false
	}
	return Group{T: g.T, H: g.H, X: (g.X - 1) / m.p.GroupFanOut}, true
}

// GroupOwner is the organisation that owns group tree h of tree t.
func (m *Model) GroupOwner(t, h int) Org {
	return m.OrgAt(t, pick(hash(m.p.Seed, tagGroupOwner, t, h), m.OrgCount(t)))
}

// Role is a user's or group's role in an organisation.
type Role int

// Roles, as bits so that a profile can hold several at one organisation.
const (
	RoleMember Role = 1 << iota
	RoleAdmin
	RoleBillingManager
	RoleAppManager
)

// Relation returns the organisation relation that grants the role.
func (r Role) Relation() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleBillingManager:
		return "billing_manager"
	case RoleAppManager:
		return "app_manager"
	}
	return "member"
}

// expiry turns a hash into no expiry, a valid one or a lapsed one.
func (m *Model) expiry(h uint64, rate float64) time.Time {
	if !below(h, rate) {
		return time.Time{}
	}
	if below(sub(h, 7), m.p.ExpiredRate) {
		return ExpiredAt
	}
	return ValidUntil
}

// live reports whether a relationship with this expiry counts.
func live(exp time.Time) bool { return exp.IsZero() || exp.Equal(ValidUntil) }

// Registered reports whether u registered with its tree's brand.
func (m *Model) Registered(u User) bool {
	return !below(hash(m.p.Seed, tagRegistered, u.Org.T, u.Org.L, u.Org.X, u.J), m.p.UnregisteredRate)
}

// PartnerBrand returns the brand of the tree u's organisations partner with, when u
// also registered with it and it is not u's own brand.
func (m *Model) PartnerBrand(u User) (int, bool) {
	b := m.Brand(m.PrevTree(u.Org.T))
	if b == m.Brand(u.Org.T) {
		return 0, false
	}
	return b, below(hash(m.p.Seed, tagPartnerBrand, u.Org.T, u.Org.L, u.Org.X, u.J), m.p.PartnerBrandRate)
}

// HomeRole is u's role in its home organisation and the grant's expiry.
func (m *Model) HomeRole(u User) (Role, time.Time) {
	h := hash(m.p.Seed, tagRole, u.Org.T, u.Org.L, u.Org.X, u.J)
	admin := m.p.AdminRate
	if u.J == 0 {
		admin *= 2
	}
	r, role, rate := unit(h), RoleMember, m.p.ExpiringRate/4
	switch {
	case r < admin:
		role, rate = RoleAdmin, m.p.ExpiringRate
	case r < admin+m.p.ManagerRate:
		role = RoleBillingManager
	case r < admin+2*m.p.ManagerRate:
		role = RoleAppManager
	}
	return role, m.expiry(hash(m.p.Seed, tagRoleExpiry, u.Org.T, u.Org.L, u.Org.X, u.J), rate)
}

// SecondMembership returns the ancestor of u's home that u is also a member of.
func (m *Model) SecondMembership(u User) (Org, bool) {
	if u.Org.L == 0 {
		return Org{}, false
	}
	h := hash(m.p.Seed, tagSecond, u.Org.T, u.Org.L, u.Org.X, u.J)
	if !below(h, m.p.SecondMembershipRate) {
		return Org{}, false
	}
	return m.Ancestor(u.Org, pick(sub(h, 1), u.Org.L)), true
}

// GroupMembership returns the group u is a direct member of and the expiry.
func (m *Model) GroupMembership(u User) (Group, time.Time, bool) {
	h := hash(m.p.Seed, tagGroup, u.Org.T, u.Org.L, u.Org.X, u.J)
	if !below(h, m.p.GroupMembershipRate) {
		return Group{}, time.Time{}, false
	}
	g := Group{T: u.Org.T, H: pick(sub(h, 1), m.GroupTrees(u.Org.T)), X: pick(sub(h, 2), m.groupSz)}
	return g, m.expiry(hash(m.p.Seed, tagGroupExpiry, u.Org.T, u.Org.L, u.Org.X, u.J), m.p.ExpiringRate/4), true
}

// Suspension returns the organisation (u's home or an ancestor) u is suspended at.
func (m *Model) Suspension(u User) (Org, bool) {
	h := hash(m.p.Seed, tagSuspended, u.Org.T, u.Org.L, u.Org.X, u.J)
	if !below(h, m.p.SuspendedRate) {
		return Org{}, false
	}
	return m.Ancestor(u.Org, pick(sub(h, 1), u.Org.L+1)), true
}

// GrantKind is what a direct or group grant gives.
type GrantKind int

// Grant kinds.
const (
	GrantOrgMember GrantKind = iota + 1
	GrantOrgAdmin
	GrantProjectViewer
	GrantProjectEditor
	GrantDocViewer
	GrantDocEditor
)

// Grant is one grant a user or group holds.
type Grant struct {
	Kind    GrantKind
	Org     Org     // for organisation roles
	Project Project // for project grants
	Doc     Doc     // for document grants
	Expires time.Time
}

// pickProject chooses a project of tree t, trying a few organisations since some own
// none.
func (m *Model) pickProject(t int, h uint64) (Project, bool) {
	n := m.OrgCount(t)
	for i := range 8 {
		o := m.OrgAt(t, pick(sub(h, 2*i), n))
		if c := m.ProjectCount(o); c > 0 {
			return Project{Org: o, P: pick(sub(h, 2*i+1), c)}, true
		}
	}
	return Project{}, false
}

func (m *Model) pickDoc(p Project, h uint64) Doc {
	return Doc{Project: p, D: pick(h, m.DocCount(p))}
}

// DirectGrant returns u's one direct project or document grant, if any.
func (m *Model) DirectGrant(u User) (Grant, bool) {
	h := hash(m.p.Seed, tagGrant, u.Org.T, u.Org.L, u.Org.X, u.J)
	if !below(h, m.p.DirectGrantRate) {
		return Grant{}, false
	}
	p, ok := m.pickProject(u.Org.T, sub(h, 1))
	if !ok {
		return Grant{}, false
	}
	g := Grant{Kind: GrantProjectViewer + GrantKind(pick(sub(h, 2), 4)), Project: p,
		Expires: m.expiry(hash(m.p.Seed, tagGrantExpiry, u.Org.T, u.Org.L, u.Org.X, u.J), m.p.ExpiringRate/2)}
	if g.Kind >= GrantDocViewer {
		g.Doc = m.pickDoc(p, sub(h, 3))
	}
	return g, true
}

// Blocked returns the project of u's home that u is blocked from, if any.
func (m *Model) Blocked(u User) (Project, bool) {
	h := hash(m.p.Seed, tagBlocked, u.Org.T, u.Org.L, u.Org.X, u.J)
	if !below(h, m.p.BlockedRate) {
		return Project{}, false
	}
	n := m.ProjectCount(u.Org)
	if n == 0 {
		return Project{}, false
	}
	return Project{Org: u.Org, P: pick(sub(h, 1), n)}, true
}

// GroupGrant returns the one grant group g holds, if any: an organisation role, or
// project or document access, all inside g's tree.
func (m *Model) GroupGrant(g Group) (Grant, bool) {
	h := hash(m.p.Seed, tagGroupGrant, g.T, g.H, g.X)
	if !below(h, m.p.GroupGrantRate) {
		return Grant{}, false
	}
	r := unit(sub(h, 1))
	switch {
	case r < 0.30:
		return Grant{Kind: GrantOrgMember, Org: m.OrgAt(g.T, pick(sub(h, 2), m.OrgCount(g.T)))}, true
	case r < 0.35:
		return Grant{Kind: GrantOrgAdmin, Org: m.GroupOwner(g.T, g.H)}, true
	}
	p, ok := m.pickProject(g.T, sub(h, 3))
	if !ok {
		return Grant{}, false
	}
	switch {
	case r < 0.65:
		return Grant{Kind: GrantProjectViewer, Project: p}, true
	case r < 0.75:
		return Grant{Kind: GrantProjectEditor, Project: p}, true
	}
	return Grant{Kind: GrantDocViewer, Project: p, Doc: m.pickDoc(p, sub(h, 4))}, true
}

// Partnership returns the project of the previous tree that o is a partner of, and
// whether the grant is under the within_network caveat (with o's tree's network).
func (m *Model) Partnership(o Org) (p Project, caveated, ok bool) {
	h := hash(m.p.Seed, tagPartner, o.T, o.L, o.X)
	if !below(h, m.p.PartnerRate) {
		return Project{}, false, false
	}
	p, ok = m.pickProject(m.PrevTree(o.T), sub(h, 1))
	return p, below(sub(h, 2), m.p.CaveatRate), ok
}

// ProjectList returns every project of the dataset in generation order with the
// number of documents before each, so that documents can be addressed by a single
// index (see DocAt) without listing them.
func (m *Model) ProjectList() (projects []Project, firstDoc []int64, docs int64) {
	for t := range m.Trees() {
		for i := range m.OrgCount(t) {
			o := m.OrgAt(t, i)
			for p := range m.ProjectCount(o) {
				pr := Project{Org: o, P: p}
				projects = append(projects, pr)
				firstDoc = append(firstDoc, docs)
				docs += int64(m.DocCount(pr))
			}
		}
	}
	return projects, firstDoc, docs
}

package dataset

import (
	"bufio"
	"context"
	"io"
	"iter"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

func orgRef(o Org) tuple.ObjectRef         { return tuple.ObjectRef{Type: TypeOrganization, ID: o.ID()} }
func orgSubject(o Org) tuple.SubjectRef    { return tuple.SubjectRef{Type: TypeOrganization, ID: o.ID()} }
func userSubject(u User) tuple.SubjectRef  { return tuple.SubjectRef{Type: TypeUser, ID: u.ID()} }
func projectRef(p Project) tuple.ObjectRef { return tuple.ObjectRef{Type: TypeProject, ID: p.ID()} }
func docRef(d Doc) tuple.ObjectRef         { return tuple.ObjectRef{Type: TypeDocument, ID: d.ID()} }
func groupRef(g Group) tuple.ObjectRef     { return tuple.ObjectRef{Type: TypeGroup, ID: g.ID()} }
func groupMembers(g Group) tuple.SubjectRef {
	return tuple.SubjectRef{Type: TypeGroup, ID: g.ID(), Relation: "member"}
}

// OrgRef, UserRef, ProjectRef, DocRef and GroupRef return the objects' references.
func OrgRef(o Org) tuple.ObjectRef          { return orgRef(o) }
func UserRef(u User) tuple.SubjectRef       { return userSubject(u) }
func ProjectRef(p Project) tuple.ObjectRef  { return projectRef(p) }
func DocRef(d Doc) tuple.ObjectRef          { return docRef(d) }
func GroupRef(g Group) tuple.ObjectRef      { return groupRef(g) }
func GroupMembers(g Group) tuple.SubjectRef { return groupMembers(g) }

func rel(res tuple.ObjectRef, relation string, subj tuple.SubjectRef, exp time.Time) tuple.Relationship {
	return tuple.Relationship{Resource: res, Relation: relation, Subject: subj, Expiration: exp}
}

// Relationships yields the whole dataset in generation order: the platform staff, then
// tree after tree. Every relationship is yielded once.
func (m *Model) Relationships() iter.Seq[tuple.Relationship] {
	return func(yield func(tuple.Relationship) bool) {
		for j := range m.p.Staff {
			s := User{J: j, Staff: true}
			b := tuple.ObjectRef{Type: TypeBrand, ID: BrandID(j % m.p.Brands)}
			if !yield(rel(b, "operator", userSubject(s), time.Time{})) {
				return
			}
		}
		for t := range m.Trees() {
			if !m.emitTree(t, yield) {
				return
			}
		}
	}
}

// TreeRelationships yields the relationships of tree t only.
func (m *Model) TreeRelationships(t int) iter.Seq[tuple.Relationship] {
	return func(yield func(tuple.Relationship) bool) { m.emitTree(t, yield) }
}

// emitTree yields tree t's relationships; it returns false when yield stopped.
func (m *Model) emitTree(t int, yield func(tuple.Relationship) bool) bool {
	root := Org{T: t}
	if !yield(rel(orgRef(root), "brand", tuple.SubjectRef{Type: TypeBrand, ID: BrandID(m.Brand(t))}, time.Time{})) {
		return false
	}
	for i := range m.OrgCount(t) {
		if !m.emitOrg(m.OrgAt(t, i), yield) {
			return false
		}
	}
	for h := range m.GroupTrees(t) {
		if !m.emitGroupTree(t, h, yield) {
			return false
		}
	}
	return true
}

func (m *Model) emitOrg(o Org, yield func(tuple.Relationship) bool) bool {
	ref := orgRef(o)
	if p, ok := m.Parent(o); ok {
		if !yield(rel(ref, "parent", orgSubject(p), time.Time{})) {
			return false
		}
	}
	for j := range m.UserCount(o) {
		if !m.emitUser(User{Org: o, J: j}, yield) {
			return false
		}
	}
	for pi := range m.ProjectCount(o) {
		p := Project{Org: o, P: pi}
		pref := projectRef(p)
		if !yield(rel(pref, "owner", orgSubject(o), time.Time{})) {
			return false
		}
		psub := tuple.SubjectRef{Type: TypeProject, ID: pref.ID}
		for d := range m.DocCount(p) {
			if !yield(rel(docRef(Doc{Project: p, D: d}), "project", psub, time.Time{})) {
				return false
			}
		}
	}
	if p, caveated, ok := m.Partnership(o); ok {
		r := rel(projectRef(p), "partner", orgSubject(o), time.Time{})
		if caveated {
			r.Caveat = &tuple.Caveat{Name: CaveatWithinNetwork, Context: map[string]any{"allowed_cidr": m.Network(o.T).String()}}
		}
		if !yield(r) {
			return false
		}
	}
	return true
}

func (m *Model) emitUser(u User, yield func(tuple.Relationship) bool) bool {
	s := userSubject(u)
	out := make([]tuple.Relationship, 0, 8)
	if m.Registered(u) {
		out = append(out, rel(tuple.ObjectRef{Type: TypeBrand, ID: BrandID(m.Brand(u.Org.T))}, "customer", s, time.Time{}))
	}
	if b, ok := m.PartnerBrand(u); ok {
		out = append(out, rel(tuple.ObjectRef{Type: TypeBrand, ID: BrandID(b)}, "customer", s, time.Time{}))
	}
	role, exp := m.HomeRole(u)
	out = append(out, rel(orgRef(u.Org), role.Relation(), s, exp))
	if o, ok := m.SecondMembership(u); ok {
		out = append(out, rel(orgRef(o), "member", s, time.Time{}))
	}
	if g, exp, ok := m.GroupMembership(u); ok {
		out = append(out, rel(groupRef(g), "member", s, exp))
	}
	if o, ok := m.Suspension(u); ok {
		out = append(out, rel(orgRef(o), "suspended", s, time.Time{}))
	}
	if g, ok := m.DirectGrant(u); ok {
		out = append(out, grantRel(g, s))
	}
	if p, ok := m.Blocked(u); ok {
		out = append(out, rel(projectRef(p), "blocked", s, time.Time{}))
	}
	for _, r := range out {
		if !yield(r) {
			return false
		}
	}
	return true
}

// grantRel is the relationship that gives subject s grant g.
func grantRel(g Grant, s tuple.SubjectRef) tuple.Relationship {
	switch g.Kind {
	case GrantOrgMember:
		return rel(orgRef(g.Org), "member", s, g.Expires)
	case GrantOrgAdmin:
		return rel(orgRef(g.Org), "admin", s, g.Expires)
	case GrantProjectViewer:
		return rel(projectRef(g.Project), "viewer", s, g.Expires)
	case GrantProjectEditor:
		return rel(projectRef(g.Project), "editor", s, g.Expires)
	case GrantDocViewer:
		return rel(docRef(g.Doc), "viewer", s, g.Expires)
	default:
		return rel(docRef(g.Doc), "editor", s, g.Expires)
	}
}

func (m *Model) emitGroupTree(t, h int, yield func(tuple.Relationship) bool) bool {
	owner := m.GroupOwner(t, h)
	for x := range m.groupSz {
		g := Group{T: t, H: h, X: x}
		ref := groupRef(g)
		if !yield(rel(ref, "owner", orgSubject(owner), time.Time{})) {
			return false
		}
		if x == 0 {
			if !yield(rel(ref, "manager", userSubject(User{Org: owner}), time.Time{})) {
				return false
			}
		}
		if parent, ok := m.GroupParent(g); ok {
			if !yield(rel(groupRef(parent), "member", groupMembers(g), time.Time{})) {
				return false
			}
		}
		if gr, ok := m.GroupGrant(g); ok {
			if !yield(grantRel(gr, groupMembers(g))) {
				return false
			}
		}
	}
	return true
}

// WriteText writes the dataset in the relationship text form, one per line, and
// returns how many it wrote. It stops early when ctx ends.
func (m *Model) WriteText(ctx context.Context, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	var n int64
	var err error
	for r := range m.Relationships() {
		if n%4096 == 0 {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		if _, err = bw.WriteString(tuple.Format(r)); err != nil {
			break
		}
		if err = bw.WriteByte('\n'); err != nil {
			break
		}
		n++
	}
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

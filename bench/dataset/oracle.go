package dataset

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Profile is everything one user holds in a dataset, with expired grants left out:
// the brands it may sign in to, its roles per organisation (direct and through
// groups), its suspension, its groups and its project and document grants. Every
// permission of the reference schema is a function of the profile and the resource.
type Profile struct {
	User      User
	brands    []int
	roles     []orgRoles
	suspended Org
	susp      bool
	groups    []Group
	projects  []projectAccess
	docs      []docAccess
	blocked   Project
	isBlocked bool
}

type orgRoles struct {
	org   Org
	roles Role
}

// access bits of project and document grants.
const (
	accessViewer = 1 << iota
	accessEditor
)

type projectAccess struct {
	p    Project
	bits int
}

type docAccess struct {
	d    Doc
	bits int
}

// Profile computes u's profile. u must exist (ValidUser).
func (m *Model) Profile(u User) *Profile {
	pr := &Profile{User: u}
	if u.Staff {
		pr.brands = []int{u.J % m.p.Brands}
		return pr
	}
	if m.Registered(u) {
		pr.brands = append(pr.brands, m.Brand(u.Org.T))
	}
	if b, ok := m.PartnerBrand(u); ok {
		pr.brands = append(pr.brands, b)
	}
	if role, exp := m.HomeRole(u); live(exp) {
		pr.addRole(u.Org, role)
	}
	if o, ok := m.SecondMembership(u); ok {
		pr.addRole(o, RoleMember)
	}
	if g, exp, ok := m.GroupMembership(u); ok && live(exp) {
		for {
			pr.groups = append(pr.groups, g)
			if gr, ok := m.GroupGrant(g); ok {
				pr.addGrant(gr)
			}
			parent, ok := m.GroupParent(g)
			if !ok {
				break
			}
			g = parent
		}
	}
	pr.suspended, pr.susp = m.Suspension(u)
	if g, ok := m.DirectGrant(u); ok && live(g.Expires) {
		pr.addGrant(g)
	}
	pr.blocked, pr.isBlocked = m.Blocked(u)
	return pr
}

func (pr *Profile) addRole(o Org, r Role) {
	for i := range pr.roles {
		if pr.roles[i].org == o {
			pr.roles[i].roles |= r
			return
		}
	}
	pr.roles = append(pr.roles, orgRoles{org: o, roles: r})
}

func (pr *Profile) addGrant(g Grant) {
	switch g.Kind {
	case GrantOrgMember:
		pr.addRole(g.Org, RoleMember)
	case GrantOrgAdmin:
		pr.addRole(g.Org, RoleAdmin)
	case GrantProjectViewer, GrantProjectEditor:
		bits := accessViewer
		if g.Kind == GrantProjectEditor {
			bits = accessEditor
		}
		for i := range pr.projects {
			if pr.projects[i].p == g.Project {
				pr.projects[i].bits |= bits
				return
			}
		}
		pr.projects = append(pr.projects, projectAccess{g.Project, bits})
	case GrantDocViewer, GrantDocEditor:
		bits := accessViewer
		if g.Kind == GrantDocEditor {
			bits = accessEditor
		}
		for i := range pr.docs {
			if pr.docs[i].d == g.Doc {
				pr.docs[i].bits |= bits
				return
			}
		}
		pr.docs = append(pr.docs, docAccess{g.Doc, bits})
	}
}

func (pr *Profile) rolesAt(o Org) Role {
	for _, r := range pr.roles {
		if r.org == o {
			return r.roles
		}
	}
	return 0
}

func (pr *Profile) projectBits(p Project) int {
	for _, a := range pr.projects {
		if a.p == p {
			return a.bits
		}
	}
	return 0
}

func (pr *Profile) docBits(d Doc) int {
	for _, a := range pr.docs {
		if a.d == d {
			return a.bits
		}
	}
	return 0
}

// InGroup reports whether the user is a member of g, directly or through a group
// nested in g.
func (pr *Profile) InGroup(g Group) bool { return slices.Contains(pr.groups, g) }

// Evaluator answers permission questions for one profile. ClientIP is the caveat
// context of the request (client_ip); it decides within_network partner grants.
type Evaluator struct {
	m        *Model
	pr       *Profile
	clientIP netip.Addr
}

// Evaluator returns an evaluator for pr with the given client address.
func (m *Model) Evaluator(pr *Profile, clientIP netip.Addr) *Evaluator {
	return &Evaluator{m: m, pr: pr, clientIP: clientIP}
}

// IsSuspended is organization#is_suspended: suspended here or at any ancestor.
func (e *Evaluator) IsSuspended(o Org) bool {
	return e.pr.susp && e.pr.suspended.T == o.T && e.pr.suspended.L <= o.L && e.m.Ancestor(o, e.pr.suspended.L) == e.pr.suspended
}

// ActiveMember is organization#active_member: any role here and not suspended.
func (e *Evaluator) ActiveMember(o Org) bool {
	return e.pr.rolesAt(o) != 0 && !e.IsSuspended(o)
}

// PortalUser is organization#portal_user: a customer or operator of the brand of o's
// tree (only roots carry a brand).
func (e *Evaluator) PortalUser(o Org) bool { return slices.Contains(e.pr.brands, e.m.Brand(o.T)) }

// Billing is organization#billing: an unsuspended billing manager here or above.
// Admins do not hold it: an admin hands out only the roles they hold.
func (e *Evaluator) Billing(o Org) bool { return e.roleUpwards(o, RoleBillingManager) }

// ManageApps is organization#manage_apps: an unsuspended app manager here or above.
func (e *Evaluator) ManageApps(o Org) bool { return e.roleUpwards(o, RoleAppManager) }

// roleUpwards reports whether the user holds role, unsuspended, at o or an ancestor:
// the shape (role - is_suspended) + parent->permission.
func (e *Evaluator) roleUpwards(o Org, role Role) bool {
	for {
		if e.pr.rolesAt(o)&role != 0 && !e.IsSuspended(o) {
			return true
		}
		p, ok := e.m.Parent(o)
		if !ok {
			return false
		}
		o = p
	}
}

// Manage is organization#manage: an unsuspended admin here, or manage on the parent.
func (e *Evaluator) Manage(o Org) bool { return e.roleUpwards(o, RoleAdmin) }

func (e *Evaluator) blocked(p Project) bool { return e.pr.isBlocked && e.pr.blocked == p }

// ProjectEdit is project#edit.
func (e *Evaluator) ProjectEdit(p Project) bool {
	return (e.pr.projectBits(p)&accessEditor != 0 || e.Manage(p.Org)) && !e.blocked(p)
}

// partner reports whether an organisation the user is an active member of is a partner
// of p, with its caveat (if any) satisfied by the client address.
func (e *Evaluator) partner(p Project) bool {
	for _, r := range e.pr.roles {
		pp, caveated, ok := e.m.Partnership(r.org)
		if !ok || pp != p || !e.ActiveMember(r.org) {
			continue
		}
		if !caveated || e.m.Network(r.org.T).Contains(e.clientIP) {
			return true
		}
	}
	return false
}

// ProjectView is project#view.
func (e *Evaluator) ProjectView(p Project) bool {
	if e.blocked(p) || !e.PortalUser(p.Org) {
		return false
	}
	return e.pr.projectBits(p)&accessViewer != 0 || e.ProjectEdit(p) || e.ActiveMember(p.Org) || e.partner(p)
}

// DocEdit is document#edit.
func (e *Evaluator) DocEdit(d Doc) bool {
	return (e.pr.docBits(d)&accessEditor != 0 || e.ProjectEdit(d.Project)) && !e.blocked(d.Project)
}

// DocView is document#view.
func (e *Evaluator) DocView(d Doc) bool {
	if e.blocked(d.Project) || !e.PortalUser(d.Project.Org) {
		return false
	}
	return e.pr.docBits(d)&accessViewer != 0 || e.DocEdit(d) || e.ProjectView(d.Project)
}

// Permissions the oracle answers, per resource type.
var oraclePermissions = map[string][]string{
	TypeOrganization: {"manage", "active_member", "is_suspended", "portal_user", "billing", "manage_apps"},
	TypeProject:      {"view", "edit", "manage", "portal_user"},
	TypeDocument:     {"view", "edit"},
	TypeGroup:        {"member"},
}

// Check answers whether the user of the evaluator's profile has permission on res. A
// resource the dataset does not contain has no relationships, so nothing is granted
// on it (its portal_user and manage included).
func (e *Evaluator) Check(res tuple.ObjectRef, permission string) (bool, error) {
	if !slices.Contains(oraclePermissions[res.Type], permission) {
		return false, fmt.Errorf("the oracle does not answer %s#%s", res.Type, permission)
	}
	switch res.Type {
	case TypeOrganization:
		o, err := ParseOrg(res.ID)
		if err != nil || !e.m.ValidOrg(o) {
			return false, nil
		}
		switch permission {
		case "manage":
			return e.Manage(o), nil
		case "active_member":
			return e.ActiveMember(o), nil
		case "is_suspended":
			return e.IsSuspended(o), nil
		case "portal_user":
			return e.PortalUser(o), nil
		case "billing":
			return e.Billing(o), nil
		default:
			return e.ManageApps(o), nil
		}
	case TypeProject:
		p, err := ParseProject(res.ID)
		if err != nil || !e.m.ValidProject(p) {
			return false, nil
		}
		switch permission {
		case "view":
			return e.ProjectView(p), nil
		case "edit":
			return e.ProjectEdit(p), nil
		case "manage":
			return e.Manage(p.Org), nil
		default:
			return e.PortalUser(p.Org), nil
		}
	case TypeDocument:
		d, err := ParseDoc(res.ID)
		if err != nil || !e.m.ValidDoc(d) {
			return false, nil
		}
		if permission == "view" {
			return e.DocView(d), nil
		}
		return e.DocEdit(d), nil
	default:
		g, err := ParseGroup(res.ID)
		if err != nil || !e.m.ValidGroup(g) {
			return false, nil
		}
		return e.pr.InGroup(g), nil
	}
}

// Check answers one question for a user of the dataset (staff included). A subject
// that is not a user of the dataset holds nothing.
func (m *Model) Check(res tuple.ObjectRef, permission string, subject tuple.SubjectRef, clientIP netip.Addr) (bool, error) {
	if subject.Type != TypeUser || subject.Relation != "" {
		return false, fmt.Errorf("the oracle answers for user subjects only, not %s", subject)
	}
	u, err := ParseUser(subject.ID)
	if err != nil || !m.ValidUser(u) {
		if _, ok := oraclePermissions[res.Type]; !ok {
			return false, fmt.Errorf("the oracle does not answer %s#%s", res.Type, permission)
		}
		return false, nil
	}
	return m.Evaluator(m.Profile(u), clientIP).Check(res, permission)
}

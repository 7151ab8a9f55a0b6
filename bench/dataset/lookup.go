package dataset

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// LookupResources returns the ids, sorted, of the resources of resourceType (project
// or document) on which the evaluator's user has permission (view or edit). Candidates
// come from the profile (every organisation the user manages or belongs to, its
// partner projects and its grants) and are then checked one by one, so exclusions and
// the portal intersection are applied exactly as Check applies them.
func (e *Evaluator) LookupResources(resourceType, permission string) ([]string, error) {
	if resourceType != TypeProject && resourceType != TypeDocument || permission != "view" && permission != "edit" {
		return nil, fmt.Errorf("the oracle looks up project or document view or edit, not %s#%s", resourceType, permission)
	}
	projects := map[Project]struct{}{}
	docs := map[Doc]struct{}{}
	addOrg := func(o Org) {
		for p := range e.m.ProjectCount(o) {
			projects[Project{Org: o, P: p}] = struct{}{}
		}
	}
	for _, r := range e.pr.roles {
		if r.roles&RoleAdmin != 0 {
			e.m.Subtree(r.org, addOrg)
		} else {
			addOrg(r.org)
		}
		if p, _, ok := e.m.Partnership(r.org); ok {
			projects[p] = struct{}{}
		}
	}
	for _, a := range e.pr.projects {
		projects[a.p] = struct{}{}
	}
	for _, a := range e.pr.docs {
		docs[a.d] = struct{}{}
	}
	var out []string
	if resourceType == TypeProject {
		for p := range projects {
			if ok := e.projectAllowed(p, permission); ok {
				out = append(out, p.ID())
			}
		}
	} else {
		for p := range projects {
			for d := range e.m.DocCount(p) {
				docs[Doc{Project: p, D: d}] = struct{}{}
			}
		}
		for d := range docs {
			if ok := e.docAllowed(d, permission); ok {
				out = append(out, d.ID())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func (e *Evaluator) projectAllowed(p Project, permission string) bool {
	if permission == "view" {
		return e.ProjectView(p)
	}
	return e.ProjectEdit(p)
}

func (e *Evaluator) docAllowed(d Doc, permission string) bool {
	if permission == "view" {
		return e.DocView(d)
	}
	return e.DocEdit(d)
}

// LookupResources returns the sorted ids of resourceType on which user u has
// permission, for requests from clientIP.
func (m *Model) LookupResources(resourceType, permission string, u User, clientIP netip.Addr) ([]string, error) {
	if !m.ValidUser(u) {
		return nil, fmt.Errorf("user %s is not in the dataset", u.ID())
	}
	return m.Evaluator(m.Profile(u), clientIP).LookupResources(resourceType, permission)
}

// LookupSubjects returns the sorted ids of the users who have permission on res, for
// requests from clientIP. Only users of res's tree, of the tree partnering with it, and
// staff can hold anything on it, so those are the candidates.
func (m *Model) LookupSubjects(res tuple.ObjectRef, permission string, clientIP netip.Addr) ([]string, error) {
	if permission == "portal_user" {
		return nil, fmt.Errorf("the oracle does not look up portal_user: brand customers span every tree of the brand")
	}
	var t int
	switch res.Type {
	case TypeOrganization:
		o, err := ParseOrg(res.ID)
		if err != nil || !m.ValidOrg(o) {
			return nil, fmt.Errorf("organisation %q is not in the dataset", res.ID)
		}
		t = o.T
	case TypeProject:
		p, err := ParseProject(res.ID)
		if err != nil || !m.ValidProject(p) {
			return nil, fmt.Errorf("project %q is not in the dataset", res.ID)
		}
		t = p.Org.T
	case TypeDocument:
		d, err := ParseDoc(res.ID)
		if err != nil || !m.ValidDoc(d) {
			return nil, fmt.Errorf("document %q is not in the dataset", res.ID)
		}
		t = d.Project.Org.T
	default:
		return nil, fmt.Errorf("the oracle looks up subjects of organisations, projects and documents, not %s", res.Type)
	}
	var out []string
	check := func(u User) error {
		ok, err := m.Evaluator(m.Profile(u), clientIP).Check(res, permission)
		if ok {
			out = append(out, u.ID())
		}
		return err
	}
	for j := range m.p.Staff {
		if err := check(User{J: j, Staff: true}); err != nil {
			return nil, err
		}
	}
	trees := []int{t}
	if n := m.NextTree(t); n != t {
		trees = append(trees, n)
	}
	for _, tt := range trees {
		for i := range m.OrgCount(tt) {
			o := m.OrgAt(tt, i)
			for j := range m.UserCount(o) {
				if err := check(User{Org: o, J: j}); err != nil {
					return nil, err
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

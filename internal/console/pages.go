package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// orgNode is one organisation of the tree page.
type orgNode struct {
	ID       string
	Parent   string
	Children []*orgNode
}

// treeView is the home page's data.
type treeView struct {
	Roots []*orgNode
	// Query is the search; Matches its results (IDs containing it) when set.
	Query   string
	Matches []string
	Count   int
	// Truncated says the list stopped at the console's bound.
	Truncated bool
}

// home lists the organisations the signed-in identity administers as a tree, with
// search. A person sees those they hold the admin permission on; an operator every
// organisation of the tenant.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	s, _ := h.session(r)
	a := h.actorOf(s)
	ctx := r.Context()
	var ids []string
	var err error
	if a.subject != nil {
		ids, err = h.api.lookupOrgs(ctx, a, *a.subject)
	} else {
		ids, err = h.allOrgs(r, a)
	}
	if err != nil {
		h.fail(w, r, s, statusOf(err), err.Error())
		return
	}
	parents, err := h.api.parents(ctx, a, ids)
	if err != nil {
		h.fail(w, r, s, statusOf(err), err.Error())
		return
	}
	tv := treeView{Roots: buildTree(ids, parents), Count: len(ids), Truncated: len(ids) >= maxOrgs}
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" {
		tv.Query = truncate(q, 200)
		lq := strings.ToLower(q)
		for _, id := range ids {
			if strings.Contains(strings.ToLower(id), lq) {
				tv.Matches = append(tv.Matches, id)
			}
		}
	}
	h.render(w, http.StatusOK, "home", s, view{Title: "Organisations", Data: tv})
}

// allOrgs lists the tenant's organisations for an operator: every organisation that
// appears as the resource of some relationship.
func (h *Handler) allOrgs(r *http.Request, a actor) ([]string, error) {
	rels, err := h.api.read(r.Context(), a, &pb.RelationshipFilter{ResourceType: h.cfg.OrganizationType}, maxReadRels)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var ids []string
	for _, rel := range rels {
		for _, id := range []string{rel.GetResource().GetId(), parentOf(rel, h.cfg.OrganizationType)} {
			if id != "" && !seen[id] && len(ids) < maxOrgs {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// parentOf is the parent organisation a parent relationship names, or "".
func parentOf(rel *pb.Relationship, orgType string) string {
	if rel.GetRelation() == "parent" && rel.GetSubject().GetType() == orgType {
		return rel.GetSubject().GetId()
	}
	return ""
}

// buildTree arranges organisations under their parents; one whose parent is not in
// the set is a root. Children are sorted by id.
func buildTree(ids []string, parents map[string]string) []*orgNode {
	nodes := make(map[string]*orgNode, len(ids))
	for _, id := range ids {
		nodes[id] = &orgNode{ID: id, Parent: parents[id]}
	}
	var roots []*orgNode
	for _, id := range ids {
		n := nodes[id]
		// A cycle of parents would hide its members; walking up with a bound finds it.
		if p, ok := nodes[n.Parent]; ok && !cyclic(nodes, id) {
			p.Children = append(p.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	sortNodes(roots)
	return roots
}

// cyclic reports whether walking up from id comes back to it.
func cyclic(nodes map[string]*orgNode, id string) bool {
	cur := nodes[id].Parent
	for range len(nodes) + 1 {
		n, ok := nodes[cur]
		if !ok {
			return false
		}
		if cur == id {
			return true
		}
		cur = n.Parent
	}
	return true
}

func sortNodes(ns []*orgNode) {
	slices.SortFunc(ns, func(a, b *orgNode) int { return strings.Compare(a.ID, b.ID) })
	for _, n := range ns {
		sortNodes(n.Children)
	}
}

// member is one row of an organisation's members-and-roles table.
type member struct {
	Subject  string
	Relation string
	Expires  string
	// GrantedBy names the delegate who granted it, when one did.
	GrantedBy string
	// CanRemove says the actor may revoke this role (it satisfies its grant rule).
	CanRemove bool
}

// orgView is the organisation page's data.
type orgView struct {
	Org      string
	ID       string
	Parent   string
	Children []string
	Members  []member
	// Grantable are the roles the actor may hand out here; empty hides every action.
	Grantable []role
	Admin     bool
	// Form echoes a refused form so the person can correct it.
	Form map[string]string
}

// orgPage shows an organisation's members and roles, with the actions the actor's
// grant rules allow. Someone who does not administer it sees that, and nothing else.
func (h *Handler) orgPage(w http.ResponseWriter, r *http.Request) {
	h.showOrg(w, r, http.StatusOK, "", nil)
}

// showOrg renders the organisation page with a refusal and the refused form, if any.
func (h *Handler) showOrg(w http.ResponseWriter, r *http.Request, code int, refusal string, form map[string]string) {
	s, a, org, ok := h.orgRequest(w, r)
	if !ok {
		return
	}
	ov, err := h.loadOrg(r, a, org)
	if err != nil {
		h.fail(w, r, s, statusOf(err), err.Error())
		return
	}
	ov.Form = form
	if !ov.Admin {
		code = max(code, http.StatusForbidden)
	}
	h.render(w, code, "org", s, view{Title: org.String(), Error: refusal, Data: ov})
}

// orgRequest reads what every organisation page starts from: the session, its
// actor and the organisation named in the URL. A malformed name is answered here.
func (h *Handler) orgRequest(w http.ResponseWriter, r *http.Request) (*session, actor, tuple.ObjectRef, bool) {
	s, _ := h.session(r)
	org, err := h.orgFromPath(r)
	if err != nil {
		h.fail(w, r, s, http.StatusBadRequest, err.Error())
		return nil, actor{}, org, false
	}
	return s, h.actorOf(s), org, true
}

// orgFromPath reads the organisation named in the URL.
func (h *Handler) orgFromPath(r *http.Request) (tuple.ObjectRef, error) {
	org := tuple.ObjectRef{Type: h.cfg.OrganizationType, ID: r.PathValue("id")}
	return org, tuple.ValidateObject("organisation", org)
}

// loadOrg reads what the organisation page shows.
func (h *Handler) loadOrg(r *http.Request, a actor, org tuple.ObjectRef) (*orgView, error) {
	ctx := r.Context()
	ov := &orgView{Org: org.String(), ID: org.ID, Admin: a.subject == nil}
	if a.subject != nil {
		ok, err := h.api.check(ctx, a, org, h.cfg.AdminPermission, *a.subject)
		if err != nil {
			return nil, err
		}
		ov.Admin = ok
	}
	if !ov.Admin {
		return ov, nil
	}
	sch, err := h.api.schema(ctx, a)
	if err != nil {
		return nil, err
	}
	roles := h.roles(sch)
	if ov.Grantable, err = h.grantable(ctx, a, sch, org, roles); err != nil {
		return nil, err
	}
	rels, err := h.api.read(ctx, a, &pb.RelationshipFilter{ResourceType: org.Type, ResourceIds: []string{org.ID}}, maxReadRels)
	if err != nil {
		return nil, err
	}
	for _, rel := range rels {
		if p := parentOf(rel, h.cfg.OrganizationType); p != "" {
			ov.Parent = p
			continue
		}
		if !slices.ContainsFunc(roles, func(x role) bool { return x.Relation == rel.GetRelation() }) {
			continue
		}
		m := member{
			Subject:   subjectText(rel.GetSubject()),
			Relation:  rel.GetRelation(),
			CanRemove: slices.ContainsFunc(ov.Grantable, func(x role) bool { return x.Relation == rel.GetRelation() }),
		}
		// The write path refuses a delegate's change to its own relationships, so
		// the console offers none.
		if a.subject != nil && m.Subject == a.subject.String() {
			m.CanRemove = false
		}
		if t := rel.GetExpiresAt(); t != nil {
			m.Expires = t.AsTime().UTC().Format(time.RFC3339)
		}
		if g := rel.GetGranted().GetBy(); g != nil {
			m.GrantedBy = subjectText(g)
		}
		ov.Members = append(ov.Members, m)
	}
	children, err := h.api.read(ctx, a, &pb.RelationshipFilter{
		ResourceType: org.Type, Relation: "parent",
		SubjectFilter: &pb.SubjectFilter{Type: org.Type, Ids: []string{org.ID}},
	}, maxOrgs)
	if err != nil {
		return nil, err
	}
	for _, c := range children {
		ov.Children = append(ov.Children, c.GetResource().GetId())
	}
	slices.Sort(ov.Children)
	return ov, nil
}

// subjectText prints a subject reference in the text form (user:bob, group:eng#member).
func subjectText(s *pb.SubjectReference) string {
	t := s.GetType() + ":" + s.GetId()
	if s.GetRelation() != "" {
		t += "#" + s.GetRelation()
	}
	return t
}

// statusOf is the HTTP status a page shows an error with.
func statusOf(err error) int {
	if r, ok := err.(*refusal); ok {
		switch r.code {
		case "PERMISSION_DENIED":
			return http.StatusForbidden
		case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "ALREADY_EXISTS", "NOT_FOUND":
			return http.StatusBadRequest
		case "UNAUTHENTICATED":
			return http.StatusUnauthorized
		case "RESOURCE_EXHAUSTED":
			return http.StatusTooManyRequests
		}
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/scim"
	"github.com/pemba-authz/pemba/internal/scim/filter"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

// render is a resource as returned, with a Group's members read from r.
func (c *scimCall) render(ctx context.Context, r datastore.Reader, rt *scim.ResourceType, st *scim.Stored) (scim.Resource, error) {
	out := rt.Render(st, c.base)
	if rt == scim.Groups {
		members, err := groupMembers(ctx, r, st.ID)
		if err != nil {
			return nil, err
		}
		if len(members) > 0 {
			out["members"] = members
		}
	}
	return out, nil
}

// groupMembers reads a group's members from its relationships.
func groupMembers(ctx context.Context, r datastore.Reader, id string) ([]any, error) {
	var out []any
	f := datastore.RelationshipFilter{ResourceType: write.ScimGroupType, ResourceIDs: []string{id}, Relation: write.ScimMemberRelation}
	for rel, err := range r.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
		if err != nil {
			return nil, err
		}
		switch {
		case rel.Subject.Type == write.ScimUserType && rel.Subject.Relation == "":
			out = append(out, map[string]any{"value": rel.Subject.ID, "type": "User"})
		case rel.Subject.Type == write.ScimGroupType && rel.Subject.Relation == write.ScimMemberRelation:
			out = append(out, map[string]any{"value": rel.Subject.ID, "type": "Group"})
		}
	}
	return out, nil
}

func (c *scimCall) get(rt *scim.ResourceType) error {
	ctx := c.r.Context()
	snap, err := c.s.scimSnapshot(ctx, c.tenant)
	if err != nil {
		return err
	}
	st, err := c.loadResource(ctx, snap, rt, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := c.render(ctx, snap, rt, &st)
	if err != nil {
		return err
	}
	c.w.Header().Set("ETag", scim.Version(st.Revision))
	c.reply(http.StatusOK, scim.Project(out, c.listParam("attributes"), c.listParam("excludedAttributes")))
	return nil
}

func (c *scimCall) list(rt *scim.ResourceType) error {
	ctx := c.r.Context()
	q := c.r.URL.Query()
	if q.Get("sortBy") != "" {
		return scim.Errorf(http.StatusNotImplemented, "", "sorting is not supported; see /scim/v2/ServiceProviderConfig")
	}
	var expr filter.Expr
	if f := q.Get("filter"); f != "" {
		e, err := filter.Parse(f)
		if err != nil {
			return err
		}
		expr = e
	}
	start, err := c.intParam("startIndex", 1)
	if err != nil {
		return err
	}
	count, err := c.intParam("count", scimMaxPage)
	if err != nil {
		return err
	}
	start, count = max(start, 1), min(max(count, 0), scimMaxPage)
	snap, err := c.s.scimSnapshot(ctx, c.tenant)
	if err != nil {
		return err
	}
	m := filter.Matcher{CoreSchema: rt.Schema, CaseExact: func(p filter.AttrPath) bool { return rt.CaseExact(p.URI, p.Name, p.Sub) }}
	rq := datastore.RecordQuery{Key: indexKey(rt, c.conn.Name, expr)}
	total, scanned := 0, 0
	resources := []any{}
	for rec, err := range snap.ListRecords(ctx, rt.Kind(), rq) {
		if err != nil {
			return err
		}
		if scanned++; scanned > scimMaxScan {
			return scim.Errorf(http.StatusBadRequest, "tooMany", "the filter examines more than %d resources; narrow it", scimMaxScan)
		}
		st, err := scim.Decode(rec)
		if err != nil {
			return err
		}
		if st.Connection != c.conn.Name {
			continue
		}
		// Members are read only when the filter or the page needs them.
		out := rt.Render(&st, c.base)
		needMembers := rt == scim.Groups && (expr != nil && strings.Contains(strings.ToLower(expr.String()), "members") ||
			total+1 >= start && len(resources) < count)
		if needMembers {
			if out, err = c.render(ctx, snap, rt, &st); err != nil {
				return err
			}
		}
		if expr != nil && !m.Match(expr, out) {
			continue
		}
		total++
		if total >= start && len(resources) < count {
			resources = append(resources, scim.Project(out, c.listParam("attributes"), c.listParam("excludedAttributes")))
		}
	}
	c.reply(http.StatusOK, map[string]any{"schemas": []string{scim.ListResponseSchema}, "totalResults": total,
		"startIndex": start, "itemsPerPage": len(resources), "Resources": resources})
	return nil
}

// indexKey is the record key that narrows a listing: an equality filter on userName,
// externalId or displayName (how directories look a resource up before creating it)
// uses its index; anything else lists the connection's resources.
func indexKey(rt *scim.ResourceType, conn string, e filter.Expr) string {
	if cmp, ok := e.(*filter.Compare); ok && cmp.Op == filter.OpEq && cmp.Value.Kind == filter.KindString && cmp.Path.Sub == "" &&
		(cmp.Path.URI == "" || strings.EqualFold(cmp.Path.URI, rt.Schema)) {
		switch {
		case rt == scim.Users && strings.EqualFold(cmp.Path.Name, "userName"):
			return scim.UserNameKey(conn, cmp.Value.Str)
		case strings.EqualFold(cmp.Path.Name, "externalId"):
			return scim.ExternalIDKey(conn, cmp.Value.Str)
		case rt == scim.Groups && strings.EqualFold(cmp.Path.Name, "displayName"):
			return scim.DisplayNameKey(conn, cmp.Value.Str)
		}
	}
	return scim.ConnKey(conn)
}

func (c *scimCall) create(rt *scim.ResourceType) error {
	in, _, err := c.body()
	if err != nil {
		return err
	}
	attrs, err := rt.Normalize(in)
	if err != nil {
		return err
	}
	now := c.s.writer.Now().UTC()
	st := scim.Stored{ID: scim.NewID(), Connection: c.conn.Name, Attrs: attrs, Created: now, LastModified: now}
	members, err := takeMembers(rt, st.Attrs)
	if err != nil {
		return err
	}
	if err := rt.Validate(&st); err != nil {
		return err
	}
	rev, err := c.provision(c.reason("create", rt, &st), func(ctx context.Context, p *write.Provisioning) error {
		if err := c.unique(ctx, p, rt, &st); err != nil {
			return err
		}
		if rt == scim.Users {
			return c.putUser(ctx, p, nil, &st)
		}
		return c.putGroup(ctx, p, nil, &st, members)
	})
	if err != nil {
		return err
	}
	return c.answer(http.StatusCreated, rt, st.ID, rev)
}

// answer reads back a written resource and replies with it.
func (c *scimCall) answer(status int, rt *scim.ResourceType, id string, rev datastore.Revision) error {
	ctx := c.r.Context()
	snap := c.s.ds.SnapshotReader(c.tenant, rev)
	st, err := c.loadResource(ctx, snap, rt, id)
	if err != nil {
		return err
	}
	out, err := c.render(ctx, snap, rt, &st)
	if err != nil {
		return err
	}
	c.written(rev)
	c.w.Header().Set("ETag", scim.Version(st.Revision))
	if status == http.StatusCreated {
		c.w.Header().Set("Location", c.base+rt.Endpoint+"/"+id)
	}
	c.reply(status, scim.Project(out, c.listParam("attributes"), c.listParam("excludedAttributes")))
	return nil
}

func (c *scimCall) reason(verb string, rt *scim.ResourceType, st *scim.Stored) string {
	label := st.StringAttr("userName")
	if rt == scim.Groups {
		label = st.StringAttr("displayName")
	}
	if label != "" {
		label = " (" + label + ")"
	}
	return "scim " + verb + " " + rt.Name + " " + st.ID + label + " by directory " + c.conn.Directory()
}

// unique refuses a userName (or a Group displayName) another resource of the
// connection has.
func (c *scimCall) unique(ctx context.Context, p *write.Provisioning, rt *scim.ResourceType, st *scim.Stored) error {
	key, attr := scim.UserNameKey(c.conn.Name, st.StringAttr("userName")), "userName"
	if rt == scim.Groups {
		key, attr = scim.DisplayNameKey(c.conn.Name, st.StringAttr("displayName")), "displayName"
	}
	for rec, err := range p.Snapshot().ListRecords(ctx, rt.Kind(), datastore.RecordQuery{Key: key, Limit: 2}) {
		if err != nil {
			return err
		}
		if rec.ID != st.ID {
			return scim.Errorf(http.StatusConflict, "uniqueness", "%s %q is taken by %s %s of this connection", attr, st.StringAttr(attr), rt.Name, rec.ID)
		}
	}
	return nil
}

func (c *scimCall) replace(rt *scim.ResourceType) error {
	in, _, err := c.body()
	if err != nil {
		return err
	}
	id := c.r.PathValue("id")
	if err := scim.CheckImmutable(in, id); err != nil {
		return err
	}
	attrs, err := rt.Normalize(in)
	if err != nil {
		return err
	}
	return c.change(rt, id, "replace", func(cur *scim.Stored) ([]any, bool, error) {
		members, err := takeMembers(rt, attrs)
		cur.Attrs = attrs
		return members, true, err
	})
}

func (c *scimCall) patch(rt *scim.ResourceType) error {
	_, data, err := c.body()
	if err != nil {
		return err
	}
	ops, err := scim.ParsePatch(data, scimMaxOps)
	if err != nil {
		return err
	}
	n := 0
	for _, op := range ops {
		if arr, ok := op.Value.([]any); ok {
			n += len(arr)
		}
		if obj, ok := op.Value.(map[string]any); ok {
			if arr, ok := filter.Lookup(obj, "members").([]any); ok {
				n += len(arr)
			}
		}
	}
	if n > scimMaxMembers {
		return scim.Errorf(http.StatusRequestEntityTooLarge, "tooMany", "the PATCH carries %d values, more than the %d one request may", n, scimMaxMembers)
	}
	id := c.r.PathValue("id")
	return c.change(rt, id, "patch", func(cur *scim.Stored) ([]any, bool, error) {
		if rt == scim.Groups {
			// Members live in relationships; the patch sees them as an attribute.
			members, err := groupMembers(c.r.Context(), c.snap, cur.ID)
			if err != nil {
				return nil, false, err
			}
			if len(members) > 0 {
				cur.Attrs["members"] = members
			}
		}
		if err := rt.Apply(cur.Attrs, cur.ID, ops); err != nil {
			return nil, false, err
		}
		members, err := takeMembers(rt, cur.Attrs)
		return members, true, err
	})
}

// change runs a PUT or PATCH: the current resource is read in the transaction, its
// If-Match checked, edit applied, and the result written with its relationships.
func (c *scimCall) change(rt *scim.ResourceType, id, verb string, edit func(cur *scim.Stored) (members []any, setMembers bool, err error)) error {
	rev, err := c.provision("", func(ctx context.Context, p *write.Provisioning) error {
		c.snap = p.Snapshot()
		cur, err := c.loadResource(ctx, p.Snapshot(), rt, id)
		if err != nil {
			return err
		}
		if err := c.ifMatch(cur.Revision); err != nil {
			return err
		}
		old := cur
		old.Attrs = cloneResource(cur.Attrs)
		members, _, err := edit(&cur)
		if err != nil {
			return err
		}
		cur.LastModified = c.s.writer.Now().UTC()
		if err := rt.Validate(&cur); err != nil {
			return err
		}
		if err := c.unique(ctx, p, rt, &cur); err != nil {
			return err
		}
		p.SetReason(c.reason(verb, rt, &cur))
		if rt == scim.Users {
			return c.putUser(ctx, p, &old, &cur)
		}
		return c.putGroup(ctx, p, &old, &cur, members)
	})
	if err != nil {
		return err
	}
	return c.answer(http.StatusOK, rt, id, rev)
}

func (c *scimCall) delete(rt *scim.ResourceType) error {
	id := c.r.PathValue("id")
	_, err := c.provision("", func(ctx context.Context, p *write.Provisioning) error {
		cur, err := c.loadResource(ctx, p.Snapshot(), rt, id)
		if err != nil {
			return err
		}
		if err := c.ifMatch(cur.Revision); err != nil {
			return err
		}
		if rt == scim.Users {
			p.SetReason("deprovisioned by directory " + c.conn.Directory() + ": scim delete User " + id + " (" + cur.StringAttr("userName") + ")")
			if _, err := p.Offboard(tuple.SubjectRef{Type: write.ScimUserType, ID: id}); err != nil {
				return err
			}
			return p.DeleteRecord(scim.UserKind, id)
		}
		p.SetReason(c.reason("delete", rt, &cur))
		return c.deleteGroup(ctx, p, &cur)
	})
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// takeMembers removes a Group's members from its attributes (they are stored as
// relationships) and returns them; nil for a User.
func takeMembers(rt *scim.ResourceType, attrs scim.Resource) ([]any, error) {
	if rt != scim.Groups {
		return nil, nil
	}
	v, ok := attrs["members"]
	delete(attrs, "members")
	if !ok {
		return []any{}, nil
	}
	arr, _ := v.([]any)
	if len(arr) > scimMaxMembers {
		return nil, scim.Errorf(http.StatusRequestEntityTooLarge, "tooMany", "%d members, more than the %d one request may set", len(arr), scimMaxMembers)
	}
	return arr, nil
}

func cloneResource(r scim.Resource) scim.Resource {
	out := make(scim.Resource, len(r))
	for k, v := range r {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneResource(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/internal/scim"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

// groupSet is the subject set "group:ID#member" a nested group or a role mapping
// names.
func groupSet(id string) tuple.SubjectRef {
	return tuple.SubjectRef{Type: write.ScimGroupType, ID: id, Relation: write.ScimMemberRelation}
}

// putGroup writes a Group, its owner link, its members (users as user:ID, groups as
// group:ID#member) and the organisation role its display name maps to. members is
// the complete new member list.
func (c *scimCall) putGroup(ctx context.Context, p *write.Provisioning, old, cur *scim.Stored, members []any) error {
	if old == nil {
		p.OwnGroup(cur.ID)
	}
	want := map[tuple.SubjectRef]bool{}
	var dormant []*scim.Stored
	for i, m := range members {
		obj, ok := m.(map[string]any)
		if !ok {
			return scim.Errorf(http.StatusBadRequest, "invalidValue", "members[%d] is not an object with a value", i)
		}
		id, _ := obj["value"].(string)
		if id == "" {
			return scim.Errorf(http.StatusBadRequest, "invalidValue", "members[%d] has no value (the member's id)", i)
		}
		typ, _ := obj["type"].(string)
		sub, user, err := c.resolveMember(ctx, p, id, typ)
		if err != nil {
			return err
		}
		if sub == groupSet(cur.ID) {
			return scim.Errorf(http.StatusBadRequest, "invalidValue", "group %s cannot be a member of itself", cur.ID)
		}
		if user != nil && !user.Active() {
			dormant = append(dormant, user)
			continue
		}
		want[sub] = true
	}
	have := map[tuple.SubjectRef]bool{}
	if old != nil {
		subs, err := p.Members(tuple.ObjectRef{Type: write.ScimGroupType, ID: cur.ID}, write.ScimMemberRelation)
		if err != nil {
			return err
		}
		for _, s := range subs {
			have[s] = true
		}
	}
	for _, s := range sortedSubjects(have) {
		if !want[s] {
			p.Delete(groupMember(cur.ID, s))
		}
	}
	for _, s := range sortedSubjects(want) {
		if !have[s] {
			p.Touch(groupMember(cur.ID, s))
		}
	}
	// An inactive user joins when it turns active again.
	for _, u := range dormant {
		if !slices.Contains(u.Dormant, cur.ID) {
			u.Dormant = append(u.Dormant, cur.ID)
			rec, err := scim.Users.Record(u)
			if err != nil {
				return err
			}
			if err := p.PutRecord(rec); err != nil {
				return err
			}
		}
	}
	c.mapRole(p, old, cur)
	rec, err := scim.Groups.Record(cur)
	if err != nil {
		return err
	}
	return p.PutRecord(rec)
}

// mapRole moves the organisation role a group's display name maps to.
func (c *scimCall) mapRole(p *write.Provisioning, old, cur *scim.Stored) {
	conn := p.Connection()
	before, after := "", ""
	if old != nil {
		before = conn.RoleFor(old.StringAttr("displayName"))
	}
	if cur != nil {
		after = conn.RoleFor(cur.StringAttr("displayName"))
	}
	id := ""
	if cur != nil {
		id = cur.ID
	} else {
		id = old.ID
	}
	role := func(rel string) tuple.Relationship {
		return tuple.Relationship{Resource: conn.Organization, Relation: rel, Subject: groupSet(id)}
	}
	if before != "" && before != after {
		p.Delete(role(before))
	}
	if after != "" && (old == nil || before != after) {
		p.Touch(role(after))
	}
}

// resolveMember finds a member id among the connection's Users and Groups.
func (c *scimCall) resolveMember(ctx context.Context, p *write.Provisioning, id, typ string) (tuple.SubjectRef, *scim.Stored, error) {
	if !strings.EqualFold(typ, "Group") {
		u, err := c.loadResource(ctx, p.Snapshot(), scim.Users, id)
		if err == nil {
			return userSubject(id), &u, nil
		}
		if strings.EqualFold(typ, "User") {
			return tuple.SubjectRef{}, nil, scim.Errorf(http.StatusBadRequest, "invalidValue", "member %q is not a User of this connection", id)
		}
	}
	if ok, err := c.ownGroup(ctx, p.Snapshot(), id); err != nil {
		return tuple.SubjectRef{}, nil, err
	} else if ok {
		return groupSet(id), nil, nil
	}
	return tuple.SubjectRef{}, nil, scim.Errorf(http.StatusBadRequest, "invalidValue", "member %q is not a User or Group of this connection", id)
}

// deleteGroup removes a Group: its members, its owner link, its mapped role, its
// place in other groups, and its record.
func (c *scimCall) deleteGroup(ctx context.Context, p *write.Provisioning, cur *scim.Stored) error {
	subs, err := p.Members(tuple.ObjectRef{Type: write.ScimGroupType, ID: cur.ID}, write.ScimMemberRelation)
	if err != nil {
		return err
	}
	for _, s := range subs {
		p.Delete(groupMember(cur.ID, s))
	}
	// Its place in other groups and its mapped role: every relationship whose
	// subject is the group, inside the organisation's subtree.
	if _, err := p.Offboard(groupSet(cur.ID)); err != nil {
		return fmt.Errorf("removing group %s from its places: %w", cur.ID, err)
	}
	p.DisownGroup(cur.ID)
	return p.DeleteRecord(scim.GroupKind, cur.ID)
}

func sortedSubjects(m map[tuple.SubjectRef]bool) []tuple.SubjectRef {
	out := make([]tuple.SubjectRef, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b tuple.SubjectRef) int { return strings.Compare(a.String(), b.String()) })
	return out
}

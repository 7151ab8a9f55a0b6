package server

import (
	"context"
	"errors"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/scim"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

// userSubject is the subject a SCIM User is.
func userSubject(id string) tuple.SubjectRef {
	return tuple.SubjectRef{Type: write.ScimUserType, ID: id}
}

// putUser writes a User and what its active state implies: an active User is a
// member of the organisation; a User that turns inactive is offboarded from the
// organisation's subtree, and the directory's groups it left are remembered so that
// turning active again restores them (and nothing else).
func (c *scimCall) putUser(ctx context.Context, p *write.Provisioning, old, cur *scim.Stored) error {
	org := p.Connection().Organization
	member := tuple.Relationship{Resource: org, Relation: write.ScimMemberRelation, Subject: userSubject(cur.ID)}
	wasActive := old != nil && old.Active()
	switch {
	case cur.Active() && !wasActive:
		p.Touch(member)
		for _, g := range cur.Dormant {
			if ok, err := c.ownGroup(ctx, p.Snapshot(), g); err != nil {
				return err
			} else if ok {
				p.Touch(groupMember(g, userSubject(cur.ID)))
			}
		}
		cur.Dormant = nil
	case !cur.Active() && wasActive:
		p.SetReason("deprovisioned by directory " + c.conn.Directory() + ": scim deactivate User " + cur.ID + " (" + cur.StringAttr("userName") + ")")
		removed, err := p.Offboard(userSubject(cur.ID))
		if err != nil {
			return err
		}
		for _, rel := range removed {
			if rel.Resource.Type != write.ScimGroupType || rel.Relation != write.ScimMemberRelation {
				continue
			}
			if ok, err := c.ownGroup(ctx, p.Snapshot(), rel.Resource.ID); err != nil {
				return err
			} else if ok {
				cur.Dormant = appendUnique(cur.Dormant, rel.Resource.ID)
			}
		}
	}
	rec, err := scim.Users.Record(cur)
	if err != nil {
		return err
	}
	return p.PutRecord(rec)
}

// ownGroup reports whether id is a Group of this connection at r.
func (c *scimCall) ownGroup(ctx context.Context, r datastore.Reader, id string) (bool, error) {
	_, err := c.loadResource(ctx, r, scim.Groups, id)
	var se *scim.Error
	if errors.As(err, &se) {
		return false, nil
	}
	return err == nil, err
}

func groupMember(group string, s tuple.SubjectRef) tuple.Relationship {
	return tuple.Relationship{Resource: tuple.ObjectRef{Type: write.ScimGroupType, ID: group}, Relation: write.ScimMemberRelation, Subject: s}
}

func appendUnique(list []string, v string) []string {
	for _, e := range list {
		if e == v {
			return list
		}
	}
	return append(list, v)
}

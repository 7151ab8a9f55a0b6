package write

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/scim"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// ScimGroupType is the definition SCIM Groups are written as (group:ID), and whose
// "member" relation holds their members.
const ScimGroupType = "group"

// ScimUserType is the definition SCIM Users are written as (user:ID).
const ScimUserType = "user"

// ScimMemberRelation is the organisation relation an active User holds, and the
// group relation members hold.
const ScimMemberRelation = "member"

// NewScimConnection is a connection to create.
type NewScimConnection struct {
	Name         string
	Organization tuple.ObjectRef
	RoleMappings []scim.RoleMapping
}

// CreateScimConnection creates a connection and returns it with its token, which is
// not kept anywhere but in the answer. With req.Actor the actor must be able to grant
// the organisation's member relation under the grant rules; it becomes the creator,
// whose rights authorise the directory's writes. Role mappings are checked against
// the schema and the creator's rights.
func (w *Writer) CreateScimConnection(ctx context.Context, req Request, in NewScimConnection) (scim.Connection, string, error) {
	tenant, meta, err := req.begin("scim.connection.create")
	if err == nil {
		err = validateNewConnection(in)
	}
	if err != nil {
		return scim.Connection{}, "", w.recordScimDenial(ctx, tenant, meta, err)
	}
	meta.Organizations = []tuple.ObjectRef{in.Organization}
	token, _ := scim.NewToken(tenant)
	c := scim.Connection{Name: in.Name, Organization: in.Organization, Creator: meta.Actor, CreatedByKey: req.Principal,
		RoleMappings: in.RoleMappings, CreatedAt: w.cfg.Now().UTC()}
	c.SetToken(token)
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		snap := tx.Snapshot()
		if _, err := snap.ReadRecord(ctx, scim.ConnectionKind, in.Name); err == nil {
			return &ScimConnectionExistsError{Name: in.Name}
		} else if !errors.Is(err, datastore.ErrNotFound) {
			return err
		}
		sch, err := w.eng.Schema(ctx, tenant, snap.Revision())
		if err != nil {
			return err
		}
		if err := w.mayManageDirectory(ctx, tenant, snap.Revision(), sch, c.Creator, c.Organization); err != nil {
			return err
		}
		if err := w.checkRoleMappings(ctx, tenant, snap.Revision(), sch, &c, c.RoleMappings); err != nil {
			return err
		}
		rec, err := c.Record()
		if err != nil {
			return err
		}
		return tx.PutRecord(ctx, rec)
	})
	if err != nil {
		return scim.Connection{}, "", w.recordScimDenial(ctx, tenant, meta, err)
	}
	c.Revision = rev
	return c, token, nil
}

func validateNewConnection(in NewScimConnection) error {
	if err := scim.ValidateName(in.Name); err != nil {
		return invalidf("%v", err)
	}
	if err := tuple.ValidateObject("organization", in.Organization); err != nil {
		return invalidf("%v", err)
	}
	if err := scim.ValidateRoleMappings(in.RoleMappings); err != nil {
		return invalidf("%v", err)
	}
	return nil
}

// ListScimConnections lists a tenant's connections at its head revision, by name.
func (w *Writer) ListScimConnections(ctx context.Context, tenant string) ([]scim.Connection, error) {
	head, err := w.ds.HeadRevision(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out []scim.Connection
	for rec, err := range w.ds.SnapshotReader(tenant, head).ListRecords(ctx, scim.ConnectionKind, datastore.RecordQuery{}) {
		if err != nil {
			return nil, err
		}
		c, err := scim.DecodeConnection(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b scim.Connection) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// RotateScimConnection gives a connection a new token; the old one stops working at
// the revision returned.
func (w *Writer) RotateScimConnection(ctx context.Context, req Request, name string) (scim.Connection, string, error) {
	var token string
	c, err := w.changeConnection(ctx, req, "scim.connection.rotate", name, func(c *scim.Connection) error {
		token, _ = scim.NewToken(req.Tenant)
		c.SetToken(token)
		c.RotatedAt = w.cfg.Now().UTC()
		return nil
	})
	return c, token, err
}

// RevokeScimConnection revokes a connection: its token stops working. What the
// directory provisioned stays; offboard it separately if wanted.
func (w *Writer) RevokeScimConnection(ctx context.Context, req Request, name string) (scim.Connection, error) {
	return w.changeConnection(ctx, req, "scim.connection.revoke", name, func(c *scim.Connection) error {
		c.RevokedAt = w.cfg.Now().UTC()
		return nil
	})
}

// SetScimRoleMappings replaces a connection's role mappings, checked as on creation.
// It does not rewrite the roles of existing groups; the next change of each group
// applies the new mapping.
func (w *Writer) SetScimRoleMappings(ctx context.Context, req Request, name string, ms []scim.RoleMapping) (scim.Connection, error) {
	if err := scim.ValidateRoleMappings(ms); err != nil {
		tenant, meta, _ := req.begin("scim.connection.roles")
		return scim.Connection{}, w.recordScimDenial(ctx, tenant, meta, invalidf("%v", err))
	}
	return w.changeConnection(ctx, req, "scim.connection.roles", name, func(c *scim.Connection) error {
		c.RoleMappings = ms
		return nil
	})
}

// changeConnection is the transaction of rotate, revoke and set-roles: the
// connection must exist and not be revoked, and an acting subject must be allowed to
// manage the organisation's directory.
func (w *Writer) changeConnection(ctx context.Context, req Request, op, name string, change func(*scim.Connection) error) (scim.Connection, error) {
	tenant, meta, err := req.begin(op)
	if err == nil {
		if verr := scim.ValidateName(name); verr != nil {
			err = invalidf("%v", verr)
		}
	}
	if err != nil {
		return scim.Connection{}, w.recordScimDenial(ctx, tenant, meta, err)
	}
	var c scim.Connection
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		snap := tx.Snapshot()
		rec, err := snap.ReadRecord(ctx, scim.ConnectionKind, name)
		if errors.Is(err, datastore.ErrNotFound) {
			return &ScimConnectionNotFoundError{Name: name}
		}
		if err != nil {
			return err
		}
		if c, err = scim.DecodeConnection(rec); err != nil {
			return err
		}
		if c.Revoked() {
			return invalidf("SCIM connection %q was revoked at %s; create a new one", name, c.RevokedAt.Format("2006-01-02T15:04:05Z07:00"))
		}
		m := meta
		m.Organizations = []tuple.ObjectRef{c.Organization}
		tx.SetMetadata(datastore.TxMetadata(m))
		sch, err := w.eng.Schema(ctx, tenant, snap.Revision())
		if err != nil {
			return err
		}
		if err := w.mayManageDirectory(ctx, tenant, snap.Revision(), sch, meta.Actor, c.Organization); err != nil {
			return err
		}
		if err := change(&c); err != nil {
			return err
		}
		if err := w.checkRoleMappings(ctx, tenant, snap.Revision(), sch, &c, c.RoleMappings); err != nil {
			return err
		}
		out, err := c.Record()
		if err != nil {
			return err
		}
		return tx.PutRecord(ctx, out)
	})
	if err != nil {
		return scim.Connection{}, w.recordScimDenial(ctx, tenant, meta, err)
	}
	c.Revision = rev
	return c, nil
}

// mayManageDirectory checks that actor (when set) may grant org's member relation
// under the schema's grant rules: the right a directory exercises.
func (w *Writer) mayManageDirectory(ctx context.Context, tenant string, rev datastore.Revision, sch *schema.Schema, actor *tuple.SubjectRef, org tuple.ObjectRef) error {
	if _, ok := sch.Definitions[org.Type]; !ok {
		return invalidf("organization type %q is not defined in the schema", org.Type)
	}
	r, ok := sch.Relation(org.Type, ScimMemberRelation)
	if !ok || r.Kind != schema.KindRelation {
		return invalidf("%s has no relation %q, which a SCIM connection writes for every active User", org.Type, ScimMemberRelation)
	}
	if actor == nil {
		return nil
	}
	return w.satisfiesRule(ctx, tenant, rev, *actor, org, r, nil)
}

// satisfiesRule checks that actor satisfies relation r's grant rule on resource.
func (w *Writer) satisfiesRule(ctx context.Context, tenant string, rev datastore.Revision, actor tuple.SubjectRef, resource tuple.ObjectRef, r *schema.Relation, contextual []tuple.Relationship) error {
	update := fmt.Sprintf("grant %s#%s", resource, r.Name)
	if r.Grant == nil {
		return &PermissionDeniedError{Actor: actor, Update: update,
			Reason: fmt.Sprintf("relation %s#%s has no grant rule, so only administrators may write it", resource.Type, r.Name)}
	}
	res, err := w.eng.Check(ctx, engine.CheckRequest{Tenant: tenant, Revision: rev, Resource: resource,
		Permission: r.Grant.Permission, Subject: actor, Contextual: contextual})
	if err != nil {
		return fmt.Errorf("authorising %s for %s: %w", update, actor, err)
	}
	if res.Permissionship != engine.HasPermission {
		return &PermissionDeniedError{Actor: actor, Update: update, Rule: r.Grant.Text,
			Reason: fmt.Sprintf("the acting subject does not satisfy the rule on %s", resource)}
	}
	return nil
}

// checkRoleMappings checks that every mapped relation exists on the organisation,
// holds group members, has a grant rule that does not force expiry (a directory's
// roles last as long as the group membership), and that the creator, when there is
// one, satisfies the rule on the organisation.
func (w *Writer) checkRoleMappings(ctx context.Context, tenant string, rev datastore.Revision, sch *schema.Schema, c *scim.Connection, ms []scim.RoleMapping) error {
	for _, m := range ms {
		if err := w.checkRoleMapping(ctx, tenant, rev, sch, c, m); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) checkRoleMapping(ctx context.Context, tenant string, rev datastore.Revision, sch *schema.Schema, c *scim.Connection, m scim.RoleMapping) error {
	org := c.Organization
	what := fmt.Sprintf("role mapping %q → %s#%s", m.Group, org, m.Relation)
	r, ok := sch.Relation(org.Type, m.Relation)
	if !ok || r.Kind != schema.KindRelation {
		return invalidf("%s: %s has no relation %q", what, org.Type, m.Relation)
	}
	probe := tuple.Relationship{Resource: org, Relation: m.Relation,
		Subject: tuple.SubjectRef{Type: ScimGroupType, ID: "probe", Relation: ScimMemberRelation}}
	if err := sch.ValidateRelationship(probe); err != nil {
		return invalidf("%s: the relation cannot hold a directory group's members: %v", what, err)
	}
	if r.Grant == nil {
		return &ScimRoleRefusedError{Mapping: what, Reason: fmt.Sprintf("relation %s#%s has no grant rule, so no directory may grant it", org.Type, m.Relation)}
	}
	if r.Grant.MaxLifetime > 0 {
		return &ScimRoleRefusedError{Mapping: what, Rule: r.Grant.Text,
			Reason: fmt.Sprintf("its grant rule requires grants to expire within %s, and a directory's role lasts as long as the group membership; map a relation whose rule does not force expiry", formatDuration(r.Grant.MaxLifetime))}
	}
	if c.Creator == nil {
		return nil
	}
	if err := w.satisfiesRule(ctx, tenant, rev, *c.Creator, org, r, nil); err != nil {
		var denied *PermissionDeniedError
		if !errors.As(err, &denied) {
			return err
		}
		return &ScimRoleRefusedError{Mapping: what, Rule: r.Grant.Text,
			Reason: fmt.Sprintf("the connection's creator %s could not grant it: it does not satisfy the rule on %s", c.Creator, org)}
	}
	return nil
}

// ScimConnectionByToken finds the connection a bearer token belongs to, at the head
// revision of the tenant the token names. A token that is not Pemba's, names a
// missing tenant, was rotated away or revoked is a *ScimTokenError.
func (w *Writer) ScimConnectionByToken(ctx context.Context, token string) (string, scim.Connection, error) {
	tenant, ok := scim.TokenTenant(token)
	if !ok {
		return "", scim.Connection{}, &ScimTokenError{Reason: "the bearer token is not a Pemba SCIM token"}
	}
	head, err := w.ds.HeadRevision(ctx, tenant)
	if errors.Is(err, datastore.ErrNotFound) {
		return "", scim.Connection{}, &ScimTokenError{Reason: "the bearer token is not a current SCIM connection token"}
	}
	if err != nil {
		return "", scim.Connection{}, err
	}
	for rec, err := range w.ds.SnapshotReader(tenant, head).ListRecords(ctx, scim.ConnectionKind, datastore.RecordQuery{Key: scim.TokenKey(token), Limit: 1}) {
		if err != nil {
			return "", scim.Connection{}, err
		}
		c, err := scim.DecodeConnection(rec)
		if err != nil {
			return "", scim.Connection{}, err
		}
		if c.Matches(token) {
			return tenant, c, nil
		}
	}
	return tenant, scim.Connection{}, &ScimTokenError{Reason: "the bearer token is not a current SCIM connection token (unknown, rotated or revoked)"}
}

// recordScimDenial keeps a refused SCIM operation in the audit trail, whoever made it
// (an admin key's refusals too, unlike plain writes: a directory's every attempt is
// evidence), and returns the refusal.
func (w *Writer) recordScimDenial(ctx context.Context, tenant string, meta txMeta, refusal error) error {
	if tenant == "" || ctx.Err() != nil || !(isRefusal(refusal) || errors.Is(refusal, datastore.ErrNotFound)) || errors.Is(refusal, datastore.ErrTenantNotFound) {
		return refusal
	}
	m := datastore.TxMetadata(meta)
	m.Grants = nil
	m.Denied = &datastore.Denial{Message: refusal.Error()}
	if _, err := w.ds.ReadWriteTx(ctx, tenant, m, func(context.Context, datastore.ReadWriteTx) error { return nil }); err != nil {
		return fmt.Errorf("%w (and recording the refusal in the audit trail failed: %v)", refusal, err)
	}
	return refusal
}

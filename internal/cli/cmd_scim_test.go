package cli

import (
	"strings"
	"testing"
)

type scimSecretJSON struct {
	Name         string            `json:"name"`
	Token        string            `json:"token"`
	BaseURL      string            `json:"base_url"`
	Organization string            `json:"organization"`
	Creator      string            `json:"creator"`
	RoleMappings map[string]string `json:"role_mappings"`
}

// TestScimConnectionWalkthrough drives connections through the real binary: a
// delegate creates one for the organisation it administers and is refused beyond
// it; role mappings are checked against the grant rules; list never shows a token;
// rotate and revoke change the token.
func TestScimConnectionWalkthrough(t *testing.T) {
	p, admin := setupB2B(t)
	portal := newCLI(t, p, cliDelegateSecret)

	c := decodeJSON[scimSecretJSON](t, portal.ok("scim", "connection", "create", "eu-okta", "--org", "acme-eu", "--as", "user:carol",
		"--reason", "acme-eu's Okta", "-o", "json"))
	if c.Name != "eu-okta" || !strings.HasPrefix(c.Token, "pscim_default.") || len(c.Token) < 40 || !strings.HasSuffix(c.BaseURL, "/scim/v2") ||
		c.Organization != "organization:acme-eu" || c.Creator != "user:carol" {
		t.Fatalf("created: %+v", c)
	}

	r := portal.expect(exitError, "scim", "connection", "create", "eu-okta2", "--org", "acme-eu")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED", "actor")
	r = portal.expect(exitError, "scim", "connection", "create", "parent", "--org", "acme", "--as", "user:carol")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED", "does not satisfy the rule on organization:acme")
	r = portal.expect(exitError, "scim", "connection", "create", "eu-okta", "--org", "acme-eu", "--as", "user:carol")
	mustContain(t, r, r.stderr, "ALREADY_EXISTS", `"eu-okta" exists`)
	r = portal.expect(exitError, "scim", "connection", "create", "admins", "--org", "acme-eu", "--as", "user:carol", "--role", "EU Admins=admin")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED", "expire within 90d", "map a relation whose rule does not force expiry")
	r = portal.expect(exitError, "scim", "connection", "create", "billing", "--org", "acme-eu", "--as", "user:carol", "--role", "EU Billing=billing_manager")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED", "creator user:carol could not grant it")
	r = portal.expect(exitError, "scim", "connection", "create", "bad", "--org", "acme-eu", "--as", "user:carol", "--role", "X=parent")
	mustContain(t, r, r.stderr, "INVALID_ARGUMENT", "cannot hold a directory group's members")
	r = portal.expect(exitError, "scim", "connection", "create", "bad", "--org", "acme-eu", "--as", "user:carol", "--role", "nope")
	mustContain(t, r, r.stderr, "GROUP=RELATION")

	// An admin key needs no actor; the mapping's own rule still applies.
	us := decodeJSON[scimSecretJSON](t, admin.ok("scim", "connection", "create", "us-entra", "--org", "organization:acme-us",
		"--role", "US Apps=app_manager", "-o", "json"))
	if us.Creator != "" || us.RoleMappings["US Apps"] != "app_manager" {
		t.Fatalf("admin-created: %+v", us)
	}

	r = admin.ok("scim", "connection", "list")
	mustContain(t, r, r.stdout, "eu-okta: organization:acme-eu, active", "writes authorised as user:carol", "us-entra: organization:acme-us", `group "US Apps" → organization:acme-us#app_manager`)
	if strings.Contains(r.stdout, c.Token) || strings.Contains(r.stdout, us.Token) {
		t.Fatalf("list shows a token:\n%s", r.stdout)
	}

	rot := decodeJSON[scimSecretJSON](t, portal.ok("scim", "connection", "rotate", "eu-okta", "--as", "user:carol", "-o", "json"))
	if rot.Token == c.Token || !strings.HasPrefix(rot.Token, "pscim_default.") {
		t.Fatalf("rotated token %q (was %q)", rot.Token, c.Token)
	}
	r = portal.expect(exitError, "scim", "connection", "rotate", "us-entra", "--as", "user:carol")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED", "organization:acme-us")
	r = portal.ok("scim", "connection", "set-roles", "eu-okta", "--as", "user:carol", "--role", "EU Members=member")
	mustContain(t, r, r.stdout, `group "EU Members" → organization:acme-eu#member`)

	r = admin.ok("scim", "connection", "revoke", "us-entra", "--reason", "directory moved")
	mustContain(t, r, r.stdout, "us-entra: organization:acme-us, revoked")
	r = admin.expect(exitError, "scim", "connection", "rotate", "us-entra")
	mustContain(t, r, r.stderr, "was revoked")
	r = admin.expect(exitError, "scim", "connection", "revoke", "missing")
	mustContain(t, r, r.stderr, "NOT_FOUND", `"missing" not found`)

	// The refusals are in the audit trail.
	r = admin.ok("audit", "--limit", "50")
	mustContain(t, r, r.stdout, "scim.connection.create DENIED principal=portal actor=user:carol", "scim.connection.rotate DENIED", "could not grant it")
}

package cli

import (
	"testing"
)

// TestRequestWalkthrough is the partner story through the real binary: a partner
// employee asks for a project, the project's organisation and the partner approve,
// and the access follows; refusals exit 2 with the server's reason; deny and cancel
// end requests without a grant.
func TestRequestWalkthrough(t *testing.T) {
	p, admin := setupB2B(t)
	portal := newCLI(t, p, cliDelegateSecret)
	admin.ok("rel", "write", "organization:globex#admin@user:gina", "--reason", "partner admin")

	r := portal.expect(exitError, "request", "create", "project:apollo#partner_viewer@user:erin", "--org", "organization:globex")
	mustContain(t, r, r.stderr, "--as is required")
	r = portal.expect(exitError, "request", "create", "project:apollo#partner_viewer@user:erin", "--as", "user:erin", "--org", "organization:globex", "--duration", "9000h")
	mustContain(t, r, r.stderr, "INVALID_ARGUMENT", "exceeds the 90d")

	created := decodeJSON[requestJSON](t, portal.ok("request", "create", "project:apollo#partner_viewer@user:erin",
		"--as", "user:erin", "--org", "organization:globex", "--reason", "launch", "--duration", "720h", "-o", "json"))
	if created.State != "pending" || created.Requester != "user:erin" || created.Organization != "organization:globex" {
		t.Fatalf("created: %+v", created)
	}
	id := created.ID
	r = portal.ok("request", "create", "project:apollo#partner_viewer@user:erin", "--as", "user:erin", "--org", "organization:globex")
	mustContain(t, r, r.stderr, "a pending request for this relationship exists")
	mustContain(t, r, r.stdout, "request "+id+": pending")

	r = portal.ok("request", "inbox", "--as", "user:carol", "--type", "project")
	mustContain(t, r, r.stdout, id, "pending", "project:apollo#partner_viewer@user:erin")
	r = portal.ok("request", "inbox", "--as", "user:alice")
	mustContain(t, r, r.stdout, "no requests")

	r = portal.expect(exitError, "request", "approve", id, "--as", "user:erin")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED", "may not approve its own access")
	r = portal.ok("request", "approve", id, "--as", "user:carol", "--reason", "acme agrees")
	mustContain(t, r, r.stdout, "request "+id+": pending", `approved for party 1 by user:carol`, `"acme agrees"`)
	admin.expect(exitNo, "check", "project:apollo", "partner_viewer", "user:erin")
	r = portal.ok("request", "approve", id, "--as", "user:gina", "--reason", "globex agrees", "--duration", "168h")
	mustContain(t, r, r.stdout, "request "+id+": approved", "approved for party 2 by user:gina", "approved by user:gina", "granted: expires")
	// The grant holds while its grantor can grant it, and gina's right over the
	// project comes through a partner link that holds only inside globex's network.
	r = admin.expect(exitNo, "check", "project:apollo", "partner_viewer", "user:erin")
	mustContain(t, r, r.stdout, "conditional", "client_ip")
	r = admin.ok("check", "project:apollo", "partner_viewer", "user:erin", "--explain", "--context", `{"client_ip": "10.1.2.3"}`)
	mustContain(t, r, r.stdout, "on behalf of user:gina", `reason "globex agrees", approving access request `+id,
		"while grantor can grant", "while grantee in organization#active_member")
	admin.expect(exitNo, "check", "project:apollo", "partner_viewer", "user:erin", "--context", `{"client_ip": "192.0.2.1"}`)

	r = portal.expect(exitError, "request", "approve", id, "--as", "user:bob")
	mustContain(t, r, r.stderr, "FAILED_PRECONDITION", "is approved, not pending")
	r = portal.ok("request", "list", "--as", "user:erin", "--state", "approved")
	mustContain(t, r, r.stdout, id, "approved", "2")
	got := decodeJSON[requestJSON](t, admin.ok("request", "get", id, "-o", "json"))
	if len(got.Approvals) != 2 || got.Approvals[0].Reason != "acme agrees" || got.DecidedBy != "user:gina" || got.GrantExpiresAt == "" {
		t.Fatalf("approved request: %+v", got)
	}

	// Cancel and deny.
	viewer := decodeJSON[requestJSON](t, portal.ok("request", "create", "project:apollo#viewer@user:alice", "--as", "user:alice", "-o", "json"))
	r = portal.expect(exitError, "request", "cancel", viewer.ID, "--as", "user:carol")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED", "only the requester")
	r = portal.ok("request", "cancel", viewer.ID, "--as", "user:alice", "--reason", "not needed")
	mustContain(t, r, r.stdout, "cancelled by user:alice")
	viewer = decodeJSON[requestJSON](t, portal.ok("request", "create", "project:apollo#viewer@user:alice", "--as", "user:alice", "-o", "json"))
	r = portal.ok("request", "deny", viewer.ID, "--as", "user:carol", "--reason", "use the shared drive")
	mustContain(t, r, r.stdout, "denied by user:carol", "use the shared drive")
	admin.expect(exitNo, "check", "project:apollo", "viewer", "user:alice")
	r = portal.expect(exitError, "request", "approve", "nosuchid", "--as", "user:carol")
	mustContain(t, r, r.stderr, "NOT_FOUND", "nosuchid")
}

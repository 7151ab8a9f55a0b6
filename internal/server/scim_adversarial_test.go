package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// refusedInAudit fails unless the audit trail holds a refused transaction of
// principal and operation whose message contains fragment.
func refusedInAudit(t *testing.T, ts *testServer, principal, operation, fragment string) {
	t.Helper()
	res, err := ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{Principal: principal, PageSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, tx := range res.GetTransactions() {
		m := tx.GetMetadata()
		if m.GetDenied() == nil {
			continue
		}
		seen = append(seen, m.GetOperation()+": "+m.GetDenied().GetMessage())
		if m.GetOperation() == operation && strings.Contains(m.GetDenied().GetMessage(), fragment) {
			return
		}
	}
	t.Fatalf("no refused %s by %s mentioning %q in the audit trail; refusals: %q", operation, principal, fragment, seen)
}

func newUser(t *testing.T, c *scimClient, userName string) string {
	t.Helper()
	r := c.want(http.StatusCreated, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":true}`, userName))
	return str(r.Body["id"])
}

const patchOp = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[%s]}`

// TestScimAdversarial: each hostile or malformed request is refused with the SCIM
// error RFC 7644 names, and the refusal is in the audit trail.
func TestScimAdversarial(t *testing.T) {
	ts := scimServer(t, memory.New(datastore.Options{}))
	eu := scimConnection(t, ts, "eu", "acme-eu", "user:eve", map[string]string{"EU App Managers": "app_manager"})
	us := scimConnection(t, ts, "us", "acme-us", "user:uma", nil)
	euc := &scimClient{t: t, ts: ts, base: eu.GetBaseUrl(), token: eu.GetSecretToken()}
	usc := &scimClient{t: t, ts: ts, base: us.GetBaseUrl(), token: us.GetSecretToken()}
	usUser := newUser(t, usc, "sam@acme-us.example")
	euUser := newUser(t, euc, "ed@acme-eu.example")

	t.Run("another organisation's token", func(t *testing.T) {
		euc.wantError(http.StatusNotFound, "", "GET", "/Users/"+usUser, "")
		euc.wantError(http.StatusNotFound, "", "PATCH", "/Users/"+usUser, fmt.Sprintf(patchOp, `{"op":"replace","value":{"active":false}}`))
		euc.wantError(http.StatusNotFound, "", "DELETE", "/Users/"+usUser, "")
		r := euc.want(http.StatusOK, "GET", "/Users", "")
		if r.Body["totalResults"] != float64(1) {
			t.Fatalf("eu lists another connection's users: %s", r.Raw)
		}
		check(t, ts, "", "organization:acme-us", "active_member", "user:"+usUser, true)
		refusedInAudit(t, ts, "scim:eu", "scim.users.get", usUser)
		refusedInAudit(t, ts, "scim:eu", "scim.users.delete", usUser)
		// A group of eu cannot take a user of us.
		euc.wantError(http.StatusBadRequest, "invalidValue", "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"x","members":[{"value":%q}]}`, usUser))
	})

	t.Run("role mapping beyond the creator's rights", func(t *testing.T) {
		_, err := pb.NewScimConnectionServiceClient(ts.conn).SetScimRoleMappings(as(delegateSecret), &pb.SetScimRoleMappingsRequest{
			Name: "eu", Actor: &pb.SubjectReference{Type: "user", Id: "eve"},
			RoleMappings: []*pb.ScimRoleMapping{{Group: "EU Billing", Relation: "billing_manager"}}})
		wantCode(t, err, 7, "could not grant it")
		refusedInAudit(t, ts, "delegate", "scim.connection.roles", "billing_manager")
		// Checked again at each write: eve loses manage_apps, so the mapped group
		// can no longer be provisioned.
		del := delegated(pb.RelationshipUpdate_OPERATION_DELETE, "organization:acme-eu#app_manager@user:eve", "user:root", "rights change")
		del.Actor = nil
		if _, err := ts.relationships().WriteRelationships(as(adminSecret), del); err != nil {
			t.Fatal(err)
		}
		euc.wantError(http.StatusForbidden, "", "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"EU App Managers"}`)
		refusedInAudit(t, ts, "scim:eu", "scim.groups.create", "app_manager")
		ts.touch(t, "", "organization:acme-eu#app_manager@user:eve")
	})

	t.Run("mutability", func(t *testing.T) {
		euc.wantError(http.StatusBadRequest, "mutability", "PATCH", "/Users/"+euUser, fmt.Sprintf(patchOp, `{"op":"replace","path":"id","value":"other"}`))
		euc.wantError(http.StatusBadRequest, "mutability", "PATCH", "/Users/"+euUser, fmt.Sprintf(patchOp, `{"op":"replace","path":"meta.version","value":"W/\"1\""}`))
		euc.wantError(http.StatusBadRequest, "mutability", "PATCH", "/Users/"+euUser, fmt.Sprintf(patchOp, `{"op":"replace","value":{"id":"other"}}`))
		euc.wantError(http.StatusBadRequest, "mutability", "PUT", "/Users/"+euUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"other","userName":"ed@acme-eu.example"}`)
		refusedInAudit(t, ts, "scim:eu", "scim.users.patch", "id is read-only")
	})

	t.Run("malformed and deep filters and paths", func(t *testing.T) {
		euc.wantError(http.StatusBadRequest, "invalidFilter", "GET", "/Users?filter="+q(`userName eq`), "")
		euc.wantError(http.StatusBadRequest, "invalidFilter", "GET", "/Users?filter="+q(strings.Repeat("(", 40)+`userName eq "x"`+strings.Repeat(")", 40)), "")
		euc.wantError(http.StatusBadRequest, "invalidPath", "PATCH", "/Users/"+euUser, fmt.Sprintf(patchOp, `{"op":"replace","path":"emails[type eq","value":"x"}`))
		euc.wantError(http.StatusBadRequest, "invalidSyntax", "PATCH", "/Users/"+euUser, `{"Operations":[{"op":"replace","path":"active","value":false}]}`)
		euc.wantError(http.StatusBadRequest, "invalidSyntax", "PATCH", "/Users/"+euUser, fmt.Sprintf(patchOp, `{"op":"move","path":"active"}`))
		euc.wantError(http.StatusBadRequest, "invalidValue", "PATCH", "/Users/"+euUser, fmt.Sprintf(patchOp, `{"op":"replace","path":"active","value":"maybe"}`))
		refusedInAudit(t, ts, "scim:eu", "scim.users.list", "invalidFilter")
	})

	t.Run("a 10,000-member PATCH", func(t *testing.T) {
		r := euc.want(http.StatusCreated, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"big"}`)
		group := str(r.Body["id"])
		members := make([]string, 10000)
		for i := range members {
			members[i] = fmt.Sprintf(`{"value":"%032x"}`, i)
		}
		euc.wantError(http.StatusRequestEntityTooLarge, "tooMany", "PATCH", "/Groups/"+group, fmt.Sprintf(patchOp, `{"op":"add","path":"members","value":[`+strings.Join(members, ",")+`]}`))
		refusedInAudit(t, ts, "scim:eu", "scim.groups.patch", "10000")
		huge := strings.Repeat(" ", 2<<20)
		euc.wantError(http.StatusRequestEntityTooLarge, "tooLarge", "POST", "/Users", `{"userName":"x"`+huge+`}`)
	})

	t.Run("stale version", func(t *testing.T) {
		r := euc.want(http.StatusOK, "GET", "/Users/"+euUser, "")
		etag := r.Header.Get("ETag")
		if etag == "" || r.Body["meta"].(map[string]any)["version"] != etag {
			t.Fatalf("ETag %q, meta %v", etag, r.Body["meta"])
		}
		euc.want(http.StatusOK, "PATCH", "/Users/"+euUser, fmt.Sprintf(patchOp, `{"op":"replace","path":"displayName","value":"Ed"}`), "If-Match", etag)
		euc.wantError(http.StatusPreconditionFailed, "", "PATCH", "/Users/"+euUser, fmt.Sprintf(patchOp, `{"op":"replace","path":"displayName","value":"Eddie"}`), "If-Match", etag)
	})

	t.Run("unsupported", func(t *testing.T) {
		r := euc.want(http.StatusOK, "GET", "/ServiceProviderConfig", "")
		if r.Body["bulk"].(map[string]any)["supported"] != false || r.Body["sort"].(map[string]any)["supported"] != false {
			t.Fatalf("config: %s", r.Raw)
		}
		euc.wantError(http.StatusNotImplemented, "", "POST", "/Bulk", `{}`)
		euc.wantError(http.StatusNotImplemented, "", "GET", "/Users?sortBy=userName", "")
		r = euc.want(http.StatusOK, "GET", "/Schemas", "")
		if r.Body["totalResults"] != float64(3) {
			t.Fatalf("schemas: %s", r.Raw)
		}
		euc.want(http.StatusOK, "GET", "/ResourceTypes/User", "")
	})

	t.Run("revoked and rotated tokens", func(t *testing.T) {
		svc := pb.NewScimConnectionServiceClient(ts.conn)
		rot, err := svc.RotateScimConnectionToken(as(adminSecret), &pb.RotateScimConnectionTokenRequest{Name: "us"})
		if err != nil {
			t.Fatal(err)
		}
		usc.wantError(http.StatusUnauthorized, "", "GET", "/Users", "")
		refusedInAudit(t, ts, "scim", "scim.users.list", "rotated or revoked")
		fresh := &scimClient{t: t, ts: ts, base: us.GetBaseUrl(), token: rot.GetSecretToken()}
		fresh.want(http.StatusOK, "GET", "/Users/"+usUser, "")
		if _, err := svc.RevokeScimConnection(as(adminSecret), &pb.RevokeScimConnectionRequest{Name: "us"}); err != nil {
			t.Fatal(err)
		}
		fresh.wantError(http.StatusUnauthorized, "", "GET", "/Users/"+usUser, "")
		(&scimClient{t: t, ts: ts, base: us.GetBaseUrl(), token: "pscim_default.nonsense"}).wantError(http.StatusUnauthorized, "", "GET", "/Users", "")
		(&scimClient{t: t, ts: ts, base: us.GetBaseUrl()}).wantError(http.StatusUnauthorized, "", "GET", "/Users", "")
		// An API key is not a SCIM token.
		(&scimClient{t: t, ts: ts, base: us.GetBaseUrl(), token: adminSecret}).wantError(http.StatusUnauthorized, "", "GET", "/Users", "")
	})
}

// TestScimConcurrentMemberPatches: PATCHes adding different members to one group at
// once lose none.
func TestScimConcurrentMemberPatches(t *testing.T) {
	for name, open := range scimStores {
		t.Run(name, func(t *testing.T) {
			ts := scimServer(t, open(t))
			res := scimConnection(t, ts, "eu", "acme-eu", "user:eve", nil)
			c := &scimClient{t: t, ts: ts, base: res.GetBaseUrl(), token: res.GetSecretToken()}
			const n = 24
			users := make([]string, n)
			for i := range users {
				users[i] = newUser(t, c, fmt.Sprintf("u%d@acme.example", i))
			}
			r := c.want(http.StatusCreated, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"all"}`)
			group := str(r.Body["id"])
			var wg sync.WaitGroup
			codes := make([]int, n)
			for i, u := range users {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = c.do("PATCH", "/Groups/"+group, fmt.Sprintf(patchOp, fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q}]}`, u))).Status
				}()
			}
			wg.Wait()
			for i, code := range codes {
				if code != http.StatusOK {
					t.Fatalf("PATCH %d answered %d", i, code)
				}
			}
			r = c.want(http.StatusOK, "GET", "/Groups/"+group, "")
			if got := len(r.Body["members"].([]any)); got != n {
				t.Fatalf("%d members after %d concurrent adds: %s", got, n, r.Raw)
			}
			for _, u := range users {
				check(t, ts, "", "group:"+group, "member", "user:"+u, true)
			}
		})
	}
}

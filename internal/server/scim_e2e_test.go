package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// The request shapes below follow Okta's and Microsoft Entra ID's published SCIM 2.0
// provisioning guides (written for Pemba's tests, not copied): Okta looks a user up
// by userName, creates it, deactivates it with a path-less replace and pushes groups
// with a path-less displayName replace and member removal by filter; Entra ID
// capitalises operations, sends booleans as "True"/"False", sets the work email by
// a value-filter path and removes members by a value list.

func q(filter string) string { return url.QueryEscape(filter) }

// TestScimOktaSequence runs Okta's provisioning sequence over HTTP on bolt and
// PostgreSQL, checking access after each step.
func TestScimOktaSequence(t *testing.T) {
	for name, open := range scimStores {
		t.Run(name, func(t *testing.T) {
			ts := scimServer(t, open(t))
			res := scimConnection(t, ts, "eu-okta", "acme-eu", "user:eve", map[string]string{"EU App Managers": "app_manager"})
			c := &scimClient{t: t, ts: ts, base: res.GetBaseUrl(), token: res.GetSecretToken()}
			org := "organization:acme-eu"

			// Okta checks that the user does not exist, then creates it.
			r := c.want(http.StatusOK, "GET", "/Users?filter="+q(`userName eq "jane@acme.example"`)+"&startIndex=1&count=100", "")
			if r.Body["totalResults"] != float64(0) {
				t.Fatalf("lookup before create: %s", r.Raw)
			}
			r = c.want(http.StatusCreated, "POST", "/Users", `{
				"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
				"userName": "jane@acme.example",
				"name": {"givenName": "Jane", "familyName": "Doe"},
				"emails": [{"primary": true, "value": "jane@acme.example", "type": "work"}],
				"displayName": "Jane Doe", "locale": "en-US", "externalId": "00u1okta",
				"groups": [], "password": "never-stored-1", "active": true}`)
			jane := str(r.Body["id"])
			check(t, ts, tokenOf(t, r), org, "active_member", "user:"+jane, true)
			check(t, ts, tokenOf(t, r), "project:eu-plan", "view", "user:"+jane, false) // no portal yet; membership alone
			if r.Header.Get("Location") != res.GetBaseUrl()+"/Users/"+jane || r.Header.Get("ETag") == "" {
				t.Fatalf("create headers: %v", r.Header)
			}
			if _, leaked := r.Body["password"]; leaked {
				t.Fatalf("password returned: %s", r.Raw)
			}
			r = c.want(http.StatusOK, "GET", "/Users?filter="+q(`userName eq "JANE@acme.example"`), "")
			if r.Body["totalResults"] != float64(1) {
				t.Fatalf("lookup after create: %s", r.Raw)
			}
			c.wantError(http.StatusConflict, "uniqueness", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Jane@Acme.example","active":true}`)

			r = c.want(http.StatusCreated, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
				"userName":"raj@acme.example","name":{"givenName":"Raj","familyName":"Patel"},
				"emails":[{"primary":true,"value":"raj@acme.example","type":"work"}],"active":true,"externalId":"00u2okta"}`)
			raj := str(r.Body["id"])

			// Profile update by PUT (Okta sends the whole user).
			r = c.want(http.StatusOK, "PUT", "/Users/"+jane, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
				"id":%q,"userName":"jane@acme.example","name":{"givenName":"Janet","familyName":"Doe"},
				"emails":[{"primary":true,"value":"jane@acme.example","type":"work"}],"active":true,"externalId":"00u1okta"}`, jane))
			if r.Body["name"].(map[string]any)["givenName"] != "Janet" {
				t.Fatalf("PUT: %s", r.Raw)
			}

			// Push a group, then its members, then rename it to the mapped name.
			r = c.want(http.StatusOK, "GET", "/Groups?filter="+q(`displayName eq "EU Apps"`), "")
			r = c.want(http.StatusCreated, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"EU Apps","members":[]}`)
			group := str(r.Body["id"])
			check(t, ts, tokenOf(t, r), "group:"+group, "manage", "user:eve", true)
			r = c.want(http.StatusOK, "PATCH", "/Groups/"+group, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"add","path":"members","value":[{"value":%q,"display":"jane@acme.example"},{"value":%q,"display":"raj@acme.example"}]}]}`, jane, raj))
			check(t, ts, tokenOf(t, r), "group:"+group, "member", "user:"+jane, true)
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+raj, false)
			r = c.want(http.StatusOK, "PATCH", "/Groups/"+group, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"replace","value":{"id":%q,"displayName":"EU App Managers"}}]}`, group))
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+raj, true)
			r = c.want(http.StatusOK, "GET", "/Groups?filter="+q(fmt.Sprintf(`members.value eq %q`, raj)), "")
			if r.Body["totalResults"] != float64(1) {
				t.Fatalf("groups of raj: %s", r.Raw)
			}
			// Removal by filter path; removing again is a no-op.
			for range 2 {
				r = c.want(http.StatusOK, "PATCH", "/Groups/"+group, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
					"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, raj))
			}
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+raj, false)
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+jane, true)

			// Deactivation is offboarding; reactivation restores the directory's part.
			r = c.want(http.StatusOK, "PATCH", "/Users/"+jane, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"replace","value":{"active":false}}]}`)
			if r.Body["active"] != false {
				t.Fatalf("deactivate: %s", r.Raw)
			}
			check(t, ts, tokenOf(t, r), org, "active_member", "user:"+jane, false)
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+jane, false)
			r = c.want(http.StatusOK, "PATCH", "/Users/"+jane, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"replace","value":{"active":true}}]}`)
			check(t, ts, tokenOf(t, r), org, "active_member", "user:"+jane, true)
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+jane, true)

			// Group deletion removes its members' mapped role.
			r = c.want(http.StatusNoContent, "DELETE", "/Groups/"+group, "")
			check(t, ts, "", org, "manage_apps", "user:"+jane, false)
			check(t, ts, "", org, "active_member", "user:"+jane, true)
			c.wantError(http.StatusNotFound, "", "GET", "/Groups/"+group, "")
			c.want(http.StatusNoContent, "DELETE", "/Users/"+raj, "")
			check(t, ts, "", org, "active_member", "user:"+raj, false)
			c.wantError(http.StatusNotFound, "", "GET", "/Users/"+raj, "")
		})
	}
}

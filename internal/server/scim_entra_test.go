package server_test

import (
	"fmt"
	"net/http"
	"testing"
)

const entraUser = `{
	"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	"externalId": "%s",
	"userName": "%s",
	"active": "True",
	"displayName": "%s",
	"emails": [{"primary": true, "type": "work", "value": "%s"}],
	"meta": {"resourceType": "User"},
	"name": {"formatted": "%s", "familyName": "F", "givenName": "G"},
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}
}`

// TestScimEntraSequence runs Microsoft Entra ID's provisioning sequence over HTTP on
// bolt and PostgreSQL, checking access after each step.
func TestScimEntraSequence(t *testing.T) {
	for name, open := range scimStores {
		t.Run(name, func(t *testing.T) {
			ts := scimServer(t, open(t))
			res := scimConnection(t, ts, "eu-entra", "acme-eu", "user:eve", map[string]string{"EU App Managers": "app_manager"})
			c := &scimClient{t: t, ts: ts, base: res.GetBaseUrl(), token: res.GetSecretToken()}
			org := "organization:acme-eu"

			// Entra's connectivity test: a lookup of a random user.
			c.want(http.StatusOK, "GET", "/Users?filter="+q(`userName eq "b3a1f0c2-0000-4f1e-9bd3-1c8a2e9f7d10"`), "")
			r := c.want(http.StatusCreated, "POST", "/Users", fmt.Sprintf(entraUser, "ana", "ana@acme.example", "Ana A", "ana@acme.example", "Ana A"))
			ana := str(r.Body["id"])
			check(t, ts, tokenOf(t, r), org, "active_member", "user:"+ana, true)
			if r.Body["active"] != true || r.Body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)["department"] != "Sales" {
				t.Fatalf("create: %s", r.Raw)
			}
			r = c.want(http.StatusCreated, "POST", "/Users", fmt.Sprintf(entraUser, "ben", "ben@acme.example", "Ben B", "ben@acme.example", "Ben B"))
			ben := str(r.Body["id"])
			r = c.want(http.StatusOK, "GET", "/Users?filter="+q(`externalId eq "ben"`), "")
			if r.Body["totalResults"] != float64(1) {
				t.Fatalf("by externalId: %s", r.Raw)
			}

			// Attribute updates in Entra's dialect.
			r = c.want(http.StatusOK, "PATCH", "/Users/"+ana, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
				{"op":"Replace","path":"displayName","value":"Ana Almeida"},
				{"op":"Add","path":"emails[type eq \"work\"].value","value":"ana.almeida@acme.example"},
				{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+15550100"},
				{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Engineering"},
				{"op":"Replace","path":"name.familyName","value":"Almeida"}]}`)
			emails := r.Body["emails"].([]any)
			if len(emails) != 1 || emails[0].(map[string]any)["value"] != "ana.almeida@acme.example" || r.Body["displayName"] != "Ana Almeida" ||
				r.Body["phoneNumbers"].([]any)[0].(map[string]any)["value"] != "+15550100" ||
				r.Body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)["department"] != "Engineering" {
				t.Fatalf("patch: %s", r.Raw)
			}
			r = c.want(http.StatusOK, "GET", "/Users?filter="+q(`emails.value co "almeida" and (displayName sw "Ana" or not (active eq false))`), "")
			if r.Body["totalResults"] != float64(1) {
				t.Fatalf("filter: %s", r.Raw)
			}
			r = c.want(http.StatusOK, "GET", "/Users?filter="+q(`meta.lastModified gt "2000-01-01T00:00:00Z"`)+"&attributes=userName&count=1&startIndex=2", "")
			list := r.Body["Resources"].([]any)
			if r.Body["totalResults"] != float64(2) || len(list) != 1 || len(list[0].(map[string]any)) != 3 {
				t.Fatalf("paged projection: %s", r.Raw)
			}

			// Groups: created empty, looked up without members, then members added.
			c.want(http.StatusOK, "GET", "/Groups?excludedAttributes=members&filter="+q(`displayName eq "EU App Managers"`), "")
			r = c.want(http.StatusCreated, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"g-1","displayName":"EU App Managers","members":[]}`)
			group := str(r.Body["id"])
			r = c.want(http.StatusOK, "PATCH", "/Groups/"+group, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"Add","path":"members","value":[{"value":%q},{"value":%q}]}]}`, ana, ben))
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+ana, true)
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+ben, true)
			// Adding a present member is a no-op; removal by value list.
			r = c.want(http.StatusOK, "PATCH", "/Groups/"+group, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"Add","path":"members","value":[{"value":%q}]},{"op":"Remove","path":"members","value":[{"value":%q}]}]}`, ana, ben))
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+ben, false)
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+ana, true)
			if got := r.Body["members"].([]any); len(got) != 1 {
				t.Fatalf("members after removal: %s", r.Raw)
			}

			// A nested group becomes group:OUTER#member@group:INNER#member.
			r = c.want(http.StatusCreated, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"EU Everyone","members":[{"value":%q,"type":"Group"},{"value":%q}]}`, group, ben))
			outer := str(r.Body["id"])
			check(t, ts, tokenOf(t, r), "group:"+outer, "member", "user:"+ana, true)

			// Deprovisioning: "False" as a string, then a hard delete.
			r = c.want(http.StatusOK, "PATCH", "/Users/"+ana, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
			check(t, ts, tokenOf(t, r), org, "active_member", "user:"+ana, false)
			check(t, ts, tokenOf(t, r), org, "manage_apps", "user:"+ana, false)
			check(t, ts, tokenOf(t, r), "group:"+outer, "member", "user:"+ana, false)
			r = c.want(http.StatusNoContent, "DELETE", "/Users/"+ben, "")
			check(t, ts, "", "group:"+outer, "member", "user:"+ben, false)
			check(t, ts, "", org, "active_member", "user:"+ben, false)
			c.want(http.StatusNoContent, "DELETE", "/Groups/"+group, "")
			r = c.want(http.StatusOK, "GET", "/Groups/"+outer, "")
			if _, ok := r.Body["members"]; ok {
				t.Fatalf("outer group keeps a deleted member: %s", r.Raw)
			}
		})
	}
}

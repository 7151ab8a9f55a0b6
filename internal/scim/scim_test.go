package scim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func decode(t testing.TB, s string) Resource {
	t.Helper()
	var r Resource
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func patch(t *testing.T, rt *ResourceType, res Resource, ops string) error {
	t.Helper()
	parsed, err := ParsePatch([]byte(`{"schemas":["`+PatchOpSchema+`"],"Operations":`+ops+`}`), 100)
	if err != nil {
		return err
	}
	return rt.Apply(res, "id1", parsed)
}

func asJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestApplyDialects: the request shapes of Entra ID and Okta apply as RFC 7644 means.
func TestApplyDialects(t *testing.T) {
	cases := []struct {
		name, start, ops, want string
	}{
		{"path-less replace with a value object", `{"userName":"a","active":true}`, `[{"op":"replace","value":{"active":false}}]`, `{"active":false,"userName":"a"}`},
		{"capitalised op, boolean as string", `{"active":true}`, `[{"op":"Replace","path":"active","value":"False"}]`, `{"active":false}`},
		{"Okta repeats the id", `{"displayName":"a"}`, `[{"op":"replace","value":{"id":"id1","displayName":"b"}}]`, `{"displayName":"b"}`},
		{"value-filter path creates the element", `{}`, `[{"op":"Add","path":"emails[type eq \"work\"].value","value":"w@x"}]`, `{"emails":[{"type":"work","value":"w@x"}]}`},
		{"value-filter path replaces in place", `{"emails":[{"type":"work","value":"a"},{"type":"home","value":"h"}]}`, `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"b"}]`, `{"emails":[{"type":"work","value":"b"},{"type":"home","value":"h"}]}`},
		{"sub-attribute", `{"name":{"givenName":"a"}}`, `[{"op":"replace","path":"name.familyName","value":"f"}]`, `{"name":{"familyName":"f","givenName":"a"}}`},
		{"extension attribute", `{}`, `[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"d"}]`, `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"d"}}`},
		{"case-insensitive names", `{"userName":"a"}`, `[{"op":"replace","path":"USERNAME","value":"b"}]`, `{"userName":"b"}`},
		{"remove", `{"title":"t","userName":"a"}`, `[{"op":"remove","path":"title"}]`, `{"userName":"a"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := decode(t, c.start)
			if err := patch(t, Users, r, c.ops); err != nil {
				t.Fatal(err)
			}
			if got := asJSON(r); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

// TestApplyMembers: adds of present members and removals of absent ones change
// nothing; removal works by filter and by value list.
func TestApplyMembers(t *testing.T) {
	r := decode(t, `{"displayName":"g","members":[{"value":"a"},{"value":"b"}]}`)
	steps := []struct{ ops, want string }{
		{`[{"op":"add","path":"members","value":[{"value":"a"},{"value":"c","display":"C"}]}]`, `[{"value":"a"},{"value":"b"},{"display":"C","value":"c"}]`},
		{`[{"op":"remove","path":"members[value eq \"b\"]"}]`, `[{"value":"a"},{"display":"C","value":"c"}]`},
		{`[{"op":"remove","path":"members[value eq \"zz\"]"}]`, `[{"value":"a"},{"display":"C","value":"c"}]`},
		{`[{"op":"Remove","path":"members","value":[{"value":"c"},{"value":"absent"}]}]`, `[{"value":"a"}]`},
		{`[{"op":"replace","path":"members","value":[{"value":"x"}]}]`, `[{"value":"x"}]`},
	}
	for i, s := range steps {
		if err := patch(t, Groups, r, s.ops); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := asJSON(r["members"]); got != s.want {
			t.Fatalf("step %d: members %s, want %s", i, got, s.want)
		}
	}
}

func TestPatchErrors(t *testing.T) {
	cases := []struct{ body, scimType string }{
		{`{"Operations":[{"op":"add","path":"title","value":"x"}]}`, "invalidSyntax"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"copy","path":"title"}]}`, "invalidSyntax"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"remove"}]}`, "noTarget"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"replace","path":"id","value":"x"}]}`, "mutability"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"replace","path":"meta.created","value":"x"}]}`, "mutability"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"replace","value":{"id":"other"}}]}`, "mutability"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"replace","path":"emails[","value":"x"}]}`, "invalidPath"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"replace","path":"active","value":"yes"}]}`, "invalidValue"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"add","path":"emails[type ne \"work\"].value","value":"x"}]}`, "noTarget"},
		{`{"schemas":["` + PatchOpSchema + `"],"Operations":[` + strings.Repeat(`{"op":"remove","path":"title"},`, 100) + `{"op":"remove","path":"title"}]}`, "tooMany"},
	}
	for _, c := range cases {
		ops, err := ParsePatch([]byte(c.body), 100)
		if err == nil {
			err = Users.Apply(Resource{}, "id1", ops)
		}
		var se *Error
		if !errors.As(err, &se) || se.ScimType != c.scimType || se.Status/100 != 4 {
			t.Errorf("%s: got %v, want a 4xx %s", c.body, err, c.scimType)
		}
	}
}

func TestNormalizeAndProject(t *testing.T) {
	r, err := Users.Normalize(decode(t, `{"schemas":["x"],"id":"i","meta":{},"USERNAME":"a","Active":"True","password":"p","groups":[{"value":"g"}],
		"emails":[{"Value":"e","Primary":"true"}],"name":{"GivenName":"g","familyName":"f"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := asJSON(r); got != `{"active":true,"emails":[{"primary":true,"value":"e"}],"name":{"familyName":"f","givenName":"g"},"userName":"a"}` {
		t.Fatalf("normalized %s", got)
	}
	r["id"], r["schemas"] = "i", []any{UserSchema}
	if got := asJSON(Project(r, []string{"name.givenName", "emails.value"}, nil)); got != `{"emails":[{"value":"e"}],"id":"i","name":{"givenName":"g"},"schemas":["`+UserSchema+`"]}` {
		t.Fatalf("projected %s", got)
	}
	if got := asJSON(Project(r, nil, []string{"emails", "name.familyName", "id"})); got != `{"active":true,"id":"i","name":{"givenName":"g"},"schemas":["`+UserSchema+`"],"userName":"a"}` {
		t.Fatalf("excluded %s", got)
	}
	if _, err := Users.Normalize(decode(t, `{"userName":"a","active":"perhaps"}`)); err == nil {
		t.Fatal("a non-boolean active was accepted")
	}
}

func TestTokens(t *testing.T) {
	tok, digest := NewToken("acme-prod")
	if !strings.HasPrefix(tok, "pscim_acme-prod.") || len(tok) < len("pscim_acme-prod.")+43 || digest != Digest(tok) {
		t.Fatalf("token %q digest %q", tok, digest)
	}
	if tenant, ok := TokenTenant(tok); !ok || tenant != "acme-prod" {
		t.Fatalf("TokenTenant = %q, %v", tenant, ok)
	}
	for _, bad := range []string{"", "pscim_", "pscim_acme.short", "other_acme." + strings.Repeat("A", 43), "pscim_UPPER." + strings.Repeat("A", 43)} {
		if _, ok := TokenTenant(bad); ok {
			t.Errorf("TokenTenant(%q) accepted", bad)
		}
	}
	c := Connection{Name: "c"}
	c.SetToken(tok)
	if !c.Matches(tok) || c.Matches(tok+"x") || strings.Contains(c.TokenHint, tok[len(TokenPrefix):len(tok)-4]) {
		t.Fatalf("Matches or hint wrong: %+v", c)
	}
	rec, err := c.Record()
	if err != nil || len(rec.Keys) != 1 || rec.Keys[0] != TokenKey(tok) || strings.Contains(string(rec.Data), tok) {
		t.Fatalf("record %+v %v", rec, err)
	}
	c.RevokedAt = c.CreatedAt.AddDate(1, 0, 0)
	if c.Matches(tok) {
		t.Fatal("a revoked connection matches its token")
	}
}

func TestErrorStatus(t *testing.T) {
	e := Errorf(http.StatusConflict, "uniqueness", "taken")
	b := e.Body()
	if b["status"] != "409" || b["scimType"] != "uniqueness" || b["schemas"].([]string)[0] != ErrorSchema {
		t.Fatalf("body %v", b)
	}
}

package scim

import (
	"encoding/json"
	"testing"
)

// FuzzPatch: any PATCH body against any resource is applied or refused with a SCIM
// error, never a panic, and what it leaves still encodes as JSON.
func FuzzPatch(f *testing.F) {
	f.Add(`{"userName":"a"}`, `{"schemas":["`+PatchOpSchema+`"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
	f.Add(`{"members":[{"value":"a"}]}`, `{"schemas":["`+PatchOpSchema+`"],"Operations":[{"op":"remove","path":"members[value eq \"a\"]"}]}`)
	f.Add(`{}`, `{"schemas":["`+PatchOpSchema+`"],"Operations":[{"op":"add","path":"emails[type eq \"work\" and primary eq true].value","value":"x"}]}`)
	f.Add(`{"name":"x"}`, `{"schemas":["`+PatchOpSchema+`"],"Operations":[{"op":"replace","value":{"name":{"givenName":1},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m"}}}]}`)
	f.Fuzz(func(t *testing.T, start, body string) {
		var r Resource
		if json.Unmarshal([]byte(start), &r) != nil || r == nil {
			return
		}
		ops, err := ParsePatch([]byte(body), 20)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ParsePatch error %T: %v", err, err)
			}
			return
		}
		for _, rt := range []*ResourceType{Users, Groups} {
			c := Resource{}
			for k, v := range r {
				c[k] = v
			}
			if err := rt.Apply(c, "id1", ops); err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("Apply error %T: %v", err, err)
				}
				continue
			}
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("result does not encode: %v", err)
			}
			if _, err := rt.Normalize(c); err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("Normalize error %T: %v", err, err)
				}
			}
		}
	})
}

package authzen

import (
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestIDMapping(t *testing.T) {
	for _, c := range []struct{ authzen, pemba string }{
		{"alice@example.com", "alice=40example=2Ecom"},
		{"boxcarring.md", "boxcarring=2Emd"},
		{"123", "123"},
		{"a=b", "a=3Db"},
		{"x y", "x=20y"},
		{"ü", "=C3=BC"},
		{"*", "*"},
		{"path/to_it|v-1+2", "path/to_it|v-1+2"},
	} {
		if got := pembaID(c.authzen); got != c.pemba {
			t.Errorf("pembaID(%q) = %q, want %q", c.authzen, got, c.pemba)
		}
		if got := authzenID(c.pemba); got != c.authzen {
			t.Errorf("authzenID(%q) = %q, want %q", c.pemba, got, c.authzen)
		}
	}
	// Ids written outside the mapping, with a '=' that is no escape, come back as
	// they are.
	for _, id := range []string{"abc==", "a=zz", "a=4", "a=2e"} {
		if got := authzenID(id); got != id {
			t.Errorf("authzenID(%q) = %q, want it unchanged", id, got)
		}
	}
}

// FuzzIDMapping: every AuthZEN id maps to a valid Pemba id (when short enough) that
// maps back to it.
func FuzzIDMapping(f *testing.F) {
	for _, s := range []string{"alice@example.com", "a=b", "=41", "", "*", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p := pembaID(id)
		if id == "" || id == "*" {
			return
		}
		if len(p) <= tuple.MaxIDLength {
			if err := tuple.ValidateObjectID("id", p); err != nil {
				t.Fatalf("pembaID(%q) = %q is not a Pemba id: %v", id, p, err)
			}
		}
		if back := authzenID(p); back != id {
			t.Fatalf("authzenID(pembaID(%q)) = %q", id, back)
		}
	})
}

// FuzzEvaluationBody: any body decodes into an evaluation or a clear error, never a
// panic, and a decoded evaluation maps onto a check or a request error.
func FuzzEvaluationBody(f *testing.F) {
	for _, s := range []string{
		`{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"account","id":"123"},"action":{"name":"can_read","properties":{"method":"GET"}},"context":{"time":"1985-10-26T01:22-07:00"}}`,
		`{"subject":{"type":"group","id":"g","properties":{"relation":"member","x":[1,{"y":null}]}},"resource":{"type":"doc","id":"1"},"action":{"name":"view"}}`,
		`{"evaluations":[{"resource":{"type":"doc","id":"1"}}],"options":{"evaluations_semantic":"deny_on_first_deny"}}`,
		`[`, `{"subject":null}`, strings.Repeat("[", 50),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req evaluationsRequest
		if err := decodeBody(body, &req); err != nil {
			return
		}
		all := append([]evaluationRequest{req.evaluationRequest}, req.Evaluations...)
		for i, e := range all {
			c, err := toCheck(ptr(withDefaults(e, req.evaluationRequest)), "")
			if err != nil {
				if _, ok := err.(*requestError); !ok {
					t.Fatalf("evaluation %d: error %v is not a request error", i, err)
				}
				continue
			}
			if c.resource.GetType() == "" || c.permission == "" || c.subject.GetType() == "" {
				t.Fatalf("evaluation %d mapped onto an incomplete check %+v", i, c)
			}
		}
	})
}

func TestCheckDepth(t *testing.T) {
	if err := checkDepth([]byte(`{"a":"[[[[[[[[[["}`), 3); err != nil {
		t.Errorf("brackets inside a string counted: %v", err)
	}
	if err := checkDepth([]byte(`{"a":"\"[[[["}`), 2); err != nil {
		t.Errorf("escaped quote ended the string: %v", err)
	}
	if err := checkDepth([]byte(`{"a":[[{}]]}`), 3); err == nil {
		t.Error("4 levels passed a limit of 3")
	}
}

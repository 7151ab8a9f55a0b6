package spicedb

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
	}{
		{"document:1#viewer@user:alice\n", FormatText},
		{"document:1 viewer user:alice\n", FormatText},
		{`{"text":"document:1#viewer@user:alice"}`, FormatText},
		{`{"resource_type":"document","resource_id":"1"}`, FormatText},
		{"Obj\x01\x04", FormatBackup},
		{"{\n  \"readAt\": {\n    \"token\": \"GhUK\"\n  },\n  \"relationship\": {", FormatJSON},
		{`{"relationship":{"resource":{}}}`, FormatJSON},
		{`  {"resource":{"objectType":"document"`, FormatJSON},
		{`{"afterResultCursor":{"token":"x"},"relationships":[]}`, FormatJSON},
		{"", FormatText},
	} {
		if got := Detect([]byte(tc.in)); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseText(t *testing.T) {
	for in, want := range map[string]string{
		"document:1 viewer user:alice":                                  "document:1#viewer@user:alice",
		"  document:1\tviewer   group:eng#member ":                      "document:1#viewer@group:eng#member",
		`document:1 viewer user:bob[on_weekday:{"day":"a b @ #"}]`:      `document:1#viewer@user:bob[on_weekday:{"day":"a b @ #"}]`,
		"document:1 viewer user:carol[expiration:2027-03-01T12:30:00Z]": "document:1#viewer@user:carol[expiration:2027-03-01T12:30:00Z]",
		"document:1#viewer@user:alice":                                  "document:1#viewer@user:alice",
	} {
		r, err := ParseText(in)
		if err != nil {
			t.Errorf("ParseText(%q): %v", in, err)
			continue
		}
		if got := tuple.Format(r); got != want {
			t.Errorf("ParseText(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"document:1 viewer":        "three columns",
		"document viewer user:bob": "document",
	} {
		if _, err := ParseText(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseText(%q) error %v, want one containing %q", in, err, want)
		}
	}
}

// readResponses is what `zed relationship read --json` prints: indented read
// responses one after another.
const readResponses = `{
  "readAt": {
    "token": "GhUKEzE3MzM"
  },
  "relationship": {
    "resource": {
      "objectType": "document",
      "objectId": "plan"
    },
    "relation": "viewer",
    "subject": {
      "object": {
        "objectType": "group",
        "objectId": "eng"
      },
      "optionalRelation": "member"
    }
  },
  "afterResultCursor": {
    "token": "abc"
  }
}
{
  "relationship": {
    "resource": {"objectType": "document", "objectId": "plan"},
    "relation": "viewer",
    "subject": {"object": {"objectType": "user", "objectId": "bob"}},
    "optionalCaveat": {"caveatName": "on_weekday", "context": {"day": "monday"}},
    "optionalExpiresAt": "2027-03-01T12:30:00Z"
  }
}
{"resource":{"object_type":"group","object_id":"eng"},"relation":"member","subject":{"object":{"object_type":"user","object_id":"erin"}}}
{"relationships":[
  {"resource":{"objectType":"group","objectId":"ops"},"relation":"member","subject":{"object":{"objectType":"user","objectId":"finn"}}},
  {"resource":{"objectType":"group","objectId":"ops"},"relation":"member","subject":{"object":{"objectType":"user","objectId":"gail"}}}
]}
`

func TestReadJSON(t *testing.T) {
	var got []string
	err := ReadJSON(strings.NewReader(readResponses), func(r tuple.Relationship) error {
		got = append(got, tuple.Format(r))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"document:plan#viewer@group:eng#member",
		`document:plan#viewer@user:bob[on_weekday:{"day":"monday"}][expiration:2027-03-01T12:30:00Z]`,
		"group:eng#member@user:erin",
		"group:ops#member@user:finn",
		"group:ops#member@user:gail",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relationships (-want +got):\n%s", diff)
	}
}

func TestReadJSONErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"resource":{"objectType":"document","objectId":"1"},"relation":"viewer","subject":{"object":{"objectType":"user","objectId":"a"}}} {"other":1}`: "JSON object 2: holds none of",
		`{"resource":{"objectType":"document"},"relation":"viewer","subject":{"object":{"objectType":"user","objectId":"a"}}}`:                            "JSON object 1: document:#viewer@user:a",
		`{"relationship":{"resource":{"objectType":"document","objectId":"1"}}}`:                                                                          "needs a resource and a subject",
		`{"resource": 5}`: "not a relationship of the v1 API",
		`{"resource":{`:   "JSON object 1",
		`[1,2]`:           "not a JSON object",
	} {
		err := ReadJSON(strings.NewReader(in), func(tuple.Relationship) error { return nil })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadJSON(%q) error %v, want one containing %q", in, err, want)
		}
	}
}

func FuzzReadJSON(f *testing.F) {
	f.Add(readResponses)
	f.Fuzz(func(t *testing.T, in string) {
		n := 0
		_ = ReadJSON(strings.NewReader(in), func(r tuple.Relationship) error {
			if err := tuple.Validate(r); err != nil {
				t.Fatalf("ReadJSON returned an invalid relationship %v: %v", r, err)
			}
			n++
			return nil
		})
		_, _ = ParseText(in)
		_ = Detect([]byte(in))
	})
}

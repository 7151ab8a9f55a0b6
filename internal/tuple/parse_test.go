package tuple

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRoundTrip(t *testing.T) {
	cases := []struct {
		in   string
		want Relationship
		out  string // printed form when it differs from in
	}{
		{
			in: "document:q3#viewer@user:alice",
			want: Relationship{Resource: ObjectRef{"document", "q3"}, Relation: "viewer",
				Subject: SubjectRef{Type: "user", ID: "alice"}},
		},
		{
			in: "document:q3#viewer@group:finance#member",
			want: Relationship{Resource: ObjectRef{"document", "q3"}, Relation: "viewer",
				Subject: SubjectRef{"group", "finance", "member"}},
		},
		{
			in:  "document:q3#viewer@user:alice#...",
			out: "document:q3#viewer@user:alice",
			want: Relationship{Resource: ObjectRef{"document", "q3"}, Relation: "viewer",
				Subject: SubjectRef{Type: "user", ID: "alice"}},
		},
		{
			in: "acme/document:pub#viewer@acme/user:*",
			want: Relationship{Resource: ObjectRef{"acme/document", "pub"}, Relation: "viewer",
				Subject: SubjectRef{Type: "acme/user", ID: "*"}},
		},
		{
			in: `document:q3#viewer@user:tom[is_ok:{"a":[1,"]"],"b":{"c":true}}][expiration:2027-01-01T00:00:00Z]`,
			want: Relationship{Resource: ObjectRef{"document", "q3"}, Relation: "viewer",
				Subject:    SubjectRef{Type: "user", ID: "tom"},
				Caveat:     &Caveat{Name: "is_ok", Context: map[string]any{"a": []any{jsonNum("1"), "]"}, "b": map[string]any{"c": true}}},
				Expiration: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
		{
			in: "document:--=base64YWZzZGZh-ZHNmZHPwn5iK8J+YivC/fmIrwn5iK==#writer@user:a|b[only_tue]",
			want: Relationship{Resource: ObjectRef{"document", "--=base64YWZzZGZh-ZHNmZHPwn5iK8J+YivC/fmIrwn5iK=="}, Relation: "writer",
				Subject: SubjectRef{Type: "user", ID: "a|b"}, Caveat: &Caveat{Name: "only_tue"}},
		},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("Parse(%q) mismatch (-want +got):\n%s", c.in, diff)
		}
		want := c.out
		if want == "" {
			want = c.in
		}
		if s := Format(got); s != want {
			t.Errorf("Format(Parse(%q)) = %q, want %q", c.in, s, want)
		}
	}
}

func jsonNum(s string) any { v, _ := decodeNumber(s); return v }

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"document:q3#viewer":                                                   "missing @",
		"document:q3@user:alice":                                               "missing #relation",
		"documentq3#viewer@user:alice":                                         "missing : between type and id",
		"Document:q3#viewer@user:alice":                                        `resource type "Document" must start with a lower-case letter`,
		"document:q 3#viewer@user:alice":                                       `resource id "q 3" contains ' '`,
		"document:q3#vi@user:alice":                                            `relation "vi" must be at least 3 characters long`,
		"document:q3#viewer@user:*#member":                                     "is a wildcard and cannot name a relation",
		"document:*#viewer@user:alice":                                         `resource id "*" contains '*'`,
		"document:q3#viewer@user:alice[":                                       "caveat block is not closed",
		"document:q3#viewer@user:alice[c_ok:{]":                                "not a JSON object",
		"document:q3#viewer@user:alice[c_ok:[1]]":                              "not a JSON object",
		"document:q3#viewer@user:alice[expiration:x]":                          `expiration "x" is not an RFC 3339 timestamp`,
		"document:q3#viewer@user:alice[expiration:2027-01-01T00:00:00Z][c_ok]": "caveat must come before",
		"document:q3#viewer@user:alice#":                                       "empty relation after #",
		"document:q3#viewer@user:alice junk":                                   `subject id "alice junk"`,
		"document:" + strings.Repeat("a", 1025) + "#viewer@user:alice":         "longer than 1024 bytes",
	}
	for in, want := range cases {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error containing %q", in, want)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %q, want it to contain %q", in, err, want)
		}
	}
}

func TestExpiredAt(t *testing.T) {
	r := MustParse("document:a#viewer@user:b[expiration:2027-01-01T00:00:00Z]")
	if r.ExpiredAt(time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)) {
		t.Error("expired one second early")
	}
	if !r.ExpiredAt(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("not expired at its expiry instant")
	}
	if MustParse("document:a#viewer@user:b").ExpiredAt(time.Now()) {
		t.Error("relationship without expiry reported expired")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"document:q3#viewer@user:alice",
		"document:q3#viewer@group:eng#member",
		`document:q3#viewer@user:tom[ok_cav:{"a":1}][expiration:2027-01-01T00:00:00Z]`,
		"a/bcd:x#rel@e/fgh:*",
		`project:apollo#viewer@user:bob[within:{"x":1}][granted:user:eve@organization:acme-eu][expiration:2027-01-01T00:00:00Z]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(Format(r))
		if err != nil {
			t.Fatalf("Format output %q does not parse: %v", Format(r), err)
		}
		if !again.Equal(r) {
			t.Fatalf("round trip changed %q into %q", Format(r), Format(again))
		}
	})
}

func decodeNumber(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func TestGrantedBlock(t *testing.T) {
	text := `project:apollo#viewer@user:bob[within:{"x":1}][granted:user:eve@organization:acme-eu][expiration:2027-01-01T00:00:00Z]`
	r, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	want := &Grant{By: SubjectRef{Type: "user", ID: "eve"}, Via: ObjectRef{Type: "organization", ID: "acme-eu"}}
	if !r.Granted.Equal(want) || r.Caveat == nil || r.Caveat.Name != "within" || !r.HasExpiration() || Format(r) != text {
		t.Fatalf("Parse(%s) = %+v (formats as %s)", text, r, Format(r))
	}
	plain := MustParse("project:apollo#viewer@user:bob")
	if plain.Equal(r) || !plain.Granted.Equal(nil) {
		t.Error("a relationship with a grant equals one without")
	}
	// A caveat named "granted" is still a caveat.
	if c, err := Parse(`document:a#viewer@user:b[granted:{"k":"v"}]`); err != nil || c.Caveat == nil || c.Granted != nil {
		t.Errorf("caveat named granted: %+v, %v", c, err)
	}
	for bad, want := range map[string]string{
		"document:a#viewer@user:b[granted:user:eve]":                                               "expected GRANTOR@VIA",
		"document:a#viewer@user:b[granted:group:g#member@organization:o]":                          "one subject",
		"document:a#viewer@user:b[granted:user:*@organization:o]":                                  "one subject",
		"document:a#viewer@user:b[granted:user:e@organization:o][granted:user:e@org:o]":            "twice",
		"document:a#viewer@user:b[expiration:2027-01-01T00:00:00Z][granted:user:e@organization:o]": "before the expiration",
		"document:a#viewer@user:b[granted:user:e@organization:o][cav]":                             "caveat must come before",
		"document:a#viewer@user:b[granted:user:e@organization:o":                                   "not closed",
	} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s): %v, want an error containing %q", bad, err, want)
		}
	}
	if err := Validate(Relationship{Resource: ObjectRef{"document", "a"}, Relation: "viewer", Subject: SubjectRef{Type: "user", ID: "b"},
		Granted: &Grant{By: SubjectRef{Type: "user", ID: "e"}, Via: ObjectRef{Type: "Org", ID: "o"}}}); err == nil || !strings.Contains(err.Error(), "granted via") {
		t.Errorf("Validate of a bad grant: %v", err)
	}
}

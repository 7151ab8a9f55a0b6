package schema

import (
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

const lookupSchema = `use expiration

definition user {}
definition team { relation member: user }
definition group { relation member: user | group#member }

caveat ip_allowed(ip ipaddress) { ip.in_cidr("10.0.0.0/8") }
caveat on_weekdays(day int) { day < 6 }

definition document {
	relation viewer: user | group#member
	relation editor: user with ip_allowed | user with expiration | user with ip_allowed and expiration
	relation reader: user:* | user
	permission view = viewer + editor
}`

func rel(t *testing.T, s string) tuple.Relationship {
	t.Helper()
	r, err := tuple.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return r
}

func TestValidateRelationship(t *testing.T) {
	s := mustCompile(t, lookupSchema)
	ok := []string{
		"document:d#viewer@user:alice",
		"document:d#viewer@group:eng#member",
		"document:d#reader@user:*",
		"document:d#reader@user:bob",
		`document:d#editor@user:bob[ip_allowed:{"ip":"10.0.0.1"}]`,
		"document:d#editor@user:bob[ip_allowed]",
		"document:d#editor@user:bob[expiration:2030-01-01T00:00:00Z]",
		"document:d#editor@user:bob[ip_allowed][expiration:2030-01-01T00:00:00Z]",
	}
	for _, in := range ok {
		if err := s.ValidateRelationship(rel(t, in)); err != nil {
			t.Errorf("%s: unexpected error %v", in, err)
		}
	}
	bad := map[string]string{
		"folder:d#viewer@user:alice":                                  "definition `folder` not found",
		"documnt:d#viewer@user:alice":                                 "definition `documnt` not found (did you mean `document`?)",
		"document:d#viewr@user:alice":                                 "relation `viewr` not found on definition `document` (did you mean `viewer`?)",
		"document:d#view@user:alice":                                  "`view` is a permission on definition `document`, not a relation",
		"document:d#viewer@team:x":                                    "subject type `team` is not allowed on `document#viewer` (allowed: user, group#member)",
		"document:d#viewer@tean:x":                                    "subject type `tean`: definition `tean` not found (did you mean `team`?)",
		"document:d#viewer@user:*":                                    "wildcard subject `user:*` is not allowed on `document#viewer` (allowed: user, group#member)",
		"document:d#viewer@group:g":                                   "subject `group` without a subject relation is not allowed on `document#viewer`",
		"document:d#viewer@user:a#member":                             "subject relation `user#member` is not allowed on `document#viewer`",
		"document:d#editor@user:bob":                                  "relationships on `document#editor` with subject `user` must carry an expiration (allowed: user with ip_allowed, user with expiration, user with ip_allowed and expiration)",
		"document:d#viewer@user:bob[ip_allowed]":                      "caveat `ip_allowed` is not allowed on `document#viewer` for subject `user` (allowed: user)",
		"document:d#viewer@user:bob[ip_alowed]":                       "caveat `ip_alowed` not found (did you mean `ip_allowed`?)",
		"document:d#viewer@user:bob[expiration:2030-01-01T00:00:00Z]": "an expiration is not allowed on `document#viewer` for subject `user` (allowed: user)",
		"document:d#editor@user:bob[on_weekdays]":                     "caveat `on_weekdays` is not allowed on `document#editor`",
		`document:d#editor@user:bob[ip_allowed:{"ip":"not an ip"}]`:   "caveat `ip_allowed`: parameter `ip` (ipaddress): expected an IP address, found string \"not an ip\"",
	}
	for in, want := range bad {
		err := s.ValidateRelationship(rel(t, in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got  %v\n want %s", in, err, want)
		}
	}
	// An expiring-only subject type requires the expiry.
	s2 := mustCompile(t, "use expiration\ndefinition user {}\ndefinition doc { relation viewer: user with expiration }")
	r := rel(t, "doc:d#viewer@user:a")
	if err := s2.ValidateRelationship(r); err == nil || !strings.Contains(err.Error(), "must carry an expiration") {
		t.Errorf("got %v", err)
	}
	r.Expiration = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s2.ValidateRelationship(r); err != nil {
		t.Errorf("got %v", err)
	}
}

func TestValidateCheck(t *testing.T) {
	s := mustCompile(t, lookupSchema)
	for _, c := range [][4]string{
		{"document", "view", "user", ""},
		{"document", "viewer", "user", ""},
		{"document", "view", "group", "member"},
		{"document", "view", "group", "..."},
	} {
		if err := s.ValidateCheck(c[0], c[1], c[2], c[3]); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
	bad := map[[4]string]string{
		{"doc", "view", "user", ""}:              "definition `doc` not found",
		{"document", "veiw", "user", ""}:         "permission or relation `veiw` not found on definition `document` (did you mean `view`?)",
		{"document", "grant:viewer", "user", ""}: "permission or relation `grant:viewer` not found",
		{"document", "view", "usr", ""}:          "subject type `usr`: definition `usr` not found (did you mean `user`?)",
		{"document", "view", "group", "membr"}:   "subject relation `membr` not found on definition `group` (did you mean `member`?)",
	}
	for c, want := range bad {
		err := s.ValidateCheck(c[0], c[1], c[2], c[3])
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v:\n got  %v\n want %s", c, err, want)
		}
	}
}

func TestValidateRelationshipRequiresCaveat(t *testing.T) {
	s := mustCompile(t, "definition user {}\ncaveat cav(n int) { n > 1 }\ndefinition doc { relation viewer: user with cav }")
	err := s.ValidateRelationship(rel(t, "doc:d#viewer@user:a"))
	if err == nil || err.Error() != "relationships on `doc#viewer` with subject `user` require a caveat (allowed: user with cav)" {
		t.Errorf("got %v", err)
	}
}

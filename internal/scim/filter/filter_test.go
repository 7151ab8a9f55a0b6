package filter

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	cases := []struct{ in, want string }{
		{`userName eq "bjensen"`, `userName eq "bjensen"`},
		{`userName EQ "bjensen"`, `userName eq "bjensen"`},
		{`name.familyName co "O'Malley"`, `name.familyName co "O'Malley"`},
		{`userName sw "J"`, `userName sw "J"`},
		{`title pr`, `title pr`},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, `meta.lastModified gt "2011-05-13T04:42:34Z"`},
		{`title pr and userType eq "Employee"`, `(title pr) and (userType eq "Employee")`},
		{`title pr or userType eq "Intern"`, `(title pr) or (userType eq "Intern")`},
		{`a eq 1 or b eq 2 and c eq 3`, `(a eq 1) or ((b eq 2) and (c eq 3))`},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
			`(userType eq "Employee") and ((emails co "example.com") or (emails.value co "example.org"))`},
		{`userType ne "Employee" and not (emails co "example.com")`, `(userType ne "Employee") and (not (emails co "example.com"))`},
		{`emails[type eq "work" and value co "@example.com"]`, `emails[(type eq "work") and (value co "@example.com")]`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`},
		{`active eq True`, `active eq true`},
		{`x eq null`, `x eq null`},
		{`x ge -1.5e3`, `x ge -1.5e3`},
		{`members.value eq "g\"1\\"`, `members.value eq "g\"1\\"`},
	}
	for _, c := range cases {
		e, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.want)
		}
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Errorf("reparse of %q: %v, %v", e.String(), again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("(", 13) + `a eq 1` + strings.Repeat(")", 13)
	many := strings.Repeat(`a eq 1 or `, 64) + `a eq 1`
	cases := []struct{ in, msg string }{
		{``, "empty"},
		{`userName`, "expected an operator"},
		{`userName eq`, "expected a value"},
		{`userName like "x"`, `"like" is not an operator`},
		{`userName eq bjensen`, `"bjensen" is not a value`},
		{`(userName eq "x"`, `expected ")"`},
		{`userName eq "x")`, `unexpected ")"`},
		{`userName eq "x`, "not terminated"},
		{`1abc eq "x"`, "not an attribute name"},
		{`a.b.c eq "x"`, "not a sub-attribute name"},
		{`emails[type eq "work"`, `expected "]"`},
		{`emails[x[y eq 1]]`, "another value filter"},
		{`name.givenName[x eq 1]`, "not the sub-attribute"},
		{`a eq 1 and`, "expected an attribute"},
		{`a eq 1 & b eq 2`, "unexpected character"},
		{`urn:x:y: eq 1`, "names no attribute"},
		{deep, "nests deeper than 12"},
		{many, "more than 64 comparisons"},
		{strings.Repeat("a", 5000), "more than the 4096 allowed"},
		{"a eq \"\xff\"", "UTF-8"},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		var fe *Error
		if !errors.As(err, &fe) || fe.Type != "invalidFilter" {
			t.Errorf("Parse(%.40q) = %v, want an invalidFilter *Error", c.in, err)
			continue
		}
		if !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("Parse(%.40q) = %q, want it to say %q", c.in, fe.Msg, c.msg)
		}
	}
}

func TestParsePath(t *testing.T) {
	good := map[string]string{
		`active`:                            `active`,
		`name.givenName`:                    `name.givenName`,
		`members[value eq "2819c223"]`:      `members[value eq "2819c223"]`,
		`emails[type eq "work"].value`:      `emails[type eq "work"].value`,
		`addresses[type eq "work"].country`: `addresses[type eq "work"].country`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`: `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
	}
	for in, want := range good {
		p, err := ParsePath(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePath(%q) = %q, %v; want %q", in, p.String(), err, want)
		}
	}
	p, _ := ParsePath(`emails[type eq "work"].value`)
	if p.Attr.Name != "emails" || p.Sub != "value" || p.Filter == nil {
		t.Errorf("ParsePath split = %+v", p)
	}
	for _, in := range []string{``, `[x eq 1]`, `emails[type eq "work"].`, `emails[type eq "work"] x`, `a b`, `emails.value[type eq "w"]`} {
		_, err := ParsePath(in)
		var fe *Error
		if !errors.As(err, &fe) || fe.Type != "invalidPath" {
			t.Errorf("ParsePath(%q) = %v, want an invalidPath *Error", in, err)
		}
	}
}

func TestMatch(t *testing.T) {
	user := Resource{
		"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"id":          "U1",
		"userName":    "BJensen@example.com",
		"externalId":  "ext-1",
		"active":      true,
		"displayName": "Babs Jensen",
		"emails": []any{
			map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true},
			map[string]any{"value": "babs@home.org", "type": "home"},
		},
		"meta": map[string]any{"lastModified": "2026-05-13T04:42:34Z"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "701984"},
	}
	m := Matcher{CoreSchema: "urn:ietf:params:scim:schemas:core:2.0:User",
		CaseExact: func(p AttrPath) bool {
			return strings.EqualFold(p.Name, "externalId") || strings.EqualFold(p.Name, "id")
		}}
	cases := map[string]bool{
		`userName eq "bjensen@example.com"`:                           true, // caseExact false
		`externalId eq "EXT-1"`:                                       false,
		`externalId eq "ext-1"`:                                       true,
		`username ne "bjensen@example.com"`:                           false,
		`userName ne "other"`:                                         true,
		`userName sw "bjen"`:                                          true,
		`userName ew "example.com"`:                                   true,
		`displayName co "bs J"`:                                       true,
		`emails.value eq "babs@home.org"`:                             true,
		`emails co "home.org"`:                                        false, // complex values are not strings
		`emails[type eq "work" and value co "example"]`:               true,
		`emails[type eq "home" and value co "example"]`:               false,
		`active eq true`:                                              true,
		`active eq false`:                                             false,
		`title pr`:                                                    false,
		`emails pr`:                                                   true,
		`title eq null`:                                               true,
		`meta.lastModified gt "2026-05-13T00:00:00Z"`:                 true,
		`meta.lastModified lt "2026-05-13T04:42:34.5+00:00"`:          true,
		`meta.lastModified ge "2026-05-13T06:42:34+02:00"`:            true,
		`meta.lastModified gt "2026-05-13T06:42:34+02:00"`:            false,
		`not (active eq true) or userName sw "x"`:                     false,
		`(userName sw "x" or active eq true) and not (title pr)`:      true,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "BJ"`: true,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`: true,
		`urn:ietf:params:scim:schemas:extension:other:2.0:User:employeeNumber eq "701984"`:      false,
	}
	for f, want := range cases {
		e, err := Parse(f)
		if err != nil {
			t.Fatalf("Parse(%q): %v", f, err)
		}
		if got := m.Match(e, user); got != want {
			t.Errorf("Match(%q) = %v, want %v", f, got, want)
		}
	}
}

package filter

import (
	"errors"
	"testing"
)

// FuzzParse checks that any input either parses into an expression that prints and
// reparses to itself, or fails with an *Error; and that paths do the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`userName eq "bjensen"`, `title pr and not (a eq 1 or b ne 2)`,
		`emails[type eq "work"].value`, `members[value eq "x"]`,
		`urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "J"`,
		`meta.lastModified ge "2026-01-01T00:00:00Z"`, `((((a eq -1.5e3))))`, `a eq "\u00e9\n"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fe *Error
		e, err := Parse(s)
		if err != nil {
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error is %T, not *Error", s, err)
			}
		} else {
			printed := e.String()
			// Printing adds parentheses, so a filter near the limits may not reparse
			// under them; compare under generous ones.
			loose := Limits{MaxLength: 1 << 20, MaxDepth: 1 << 10, MaxTerms: 1 << 10}
			again, err := loose.Parse(printed)
			if err != nil {
				t.Fatalf("Parse(%q).String() = %q does not reparse: %v", s, printed, err)
			}
			if again.String() != printed {
				t.Fatalf("round trip of %q: %q then %q", s, printed, again.String())
			}
			Matcher{}.Match(e, Resource{"a": []any{map[string]any{"b": "c"}}, "x": "2026-01-01T00:00:00Z"})
		}
		p, err := ParsePath(s)
		if err != nil {
			if !errors.As(err, &fe) {
				t.Fatalf("ParsePath(%q) error is %T, not *Error", s, err)
			}
			return
		}
		loose := Limits{MaxLength: 1 << 20, MaxDepth: 1 << 10, MaxTerms: 1 << 10}
		again, err := loose.ParsePath(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("path round trip of %q: %q then %v, %v", s, p.String(), again, err)
		}
	})
}

package tuple

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ParseError reports text that is not a relationship, with the reason.
type ParseError struct {
	Input  string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid relationship %q: %s", truncate(e.Input, 200), e.Reason)
}

// Is makes a ParseError match ErrInvalid.
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }

// Parse reads one relationship in the text form
//
//	resource_type:resource_id#relation@subject_type:subject_id[#subject_relation][caveat[:{json}]][expiration:RFC3339]
//
// and validates every name and id in it. A "#..." subject relation is accepted and
// means the subject object itself.
func Parse(s string) (Relationship, error) {
	in := strings.TrimSpace(s)
	fail := func(format string, args ...any) (Relationship, error) {
		return Relationship{}, &ParseError{Input: in, Reason: fmt.Sprintf(format, args...)}
	}
	at := strings.IndexByte(in, '@')
	if at < 0 {
		return fail("missing @ between resource and subject")
	}
	res, rest := in[:at], in[at+1:]
	hash := strings.LastIndexByte(res, '#')
	if hash < 0 {
		return fail("missing #relation after the resource")
	}
	obj, err := parseObject("resource", res[:hash])
	if err != nil {
		return fail("%v", err)
	}
	r := Relationship{Resource: obj, Relation: res[hash+1:]}

	subjEnd := strings.IndexByte(rest, '[')
	if subjEnd < 0 {
		subjEnd = len(rest)
	}
	subj, err := ParseSubject(rest[:subjEnd])
	if err != nil {
		return fail("%v", err)
	}
	r.Subject = subj
	if err := parseTraits(&r, rest[subjEnd:]); err != nil {
		return fail("%v", err)
	}
	if err := Validate(r); err != nil {
		return fail("%v", err)
	}
	return r, nil
}

// MustParse is Parse for tests and fixed literals; it panics on bad input.
func MustParse(s string) Relationship {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

// ParseObject reads "type:id".
func ParseObject(s string) (ObjectRef, error) { return parseObject("object", s) }

func parseObject(field, s string) (ObjectRef, error) {
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return ObjectRef{}, fmt.Errorf("%s %q: missing : between type and id", field, truncate(s, 80))
	}
	o := ObjectRef{Type: s[:colon], ID: s[colon+1:]}
	if err := ValidateObject(field, o); err != nil {
		return ObjectRef{}, err
	}
	return o, nil
}

// ParseSubject reads "type:id", "type:id#relation", "type:id#..." or "type:*".
func ParseSubject(s string) (SubjectRef, error) {
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return SubjectRef{}, fmt.Errorf("subject %q: missing : between type and id", truncate(s, 80))
	}
	sub := SubjectRef{Type: s[:colon], ID: s[colon+1:]}
	if h := strings.IndexByte(sub.ID, '#'); h >= 0 {
		sub.ID, sub.Relation = sub.ID[:h], sub.ID[h+1:]
		if sub.Relation == "" {
			return SubjectRef{}, fmt.Errorf("subject %q: empty relation after #", truncate(s, 80))
		}
		if sub.Relation == Ellipsis {
			sub.Relation = ""
		}
	}
	if err := ValidateSubject(sub); err != nil {
		return SubjectRef{}, err
	}
	return sub, nil
}

// grantedPrefix starts the grant block, "[granted:GRANTOR@VIA]". A caveat named
// "granted" is still read as a caveat: its context starts with "{", a grantor never
// does.
const grantedPrefix = "granted:"

// parseTraits reads the optional "[caveat...]", "[granted:...]" and
// "[expiration:...]" blocks, in that order, each at most once.
func parseTraits(r *Relationship, s string) error {
	for s != "" {
		if s[0] != '[' {
			return fmt.Errorf("unexpected %q after the subject", truncate(s, 40))
		}
		body := s[1:]
		if g, ok := strings.CutPrefix(body, grantedPrefix); ok && !strings.HasPrefix(g, "{") {
			end := strings.IndexByte(g, ']')
			if end < 0 {
				return fmt.Errorf("granted block is not closed with ]")
			}
			if r.Granted != nil {
				return fmt.Errorf("granted given twice")
			}
			if r.HasExpiration() {
				return fmt.Errorf("the granted block must come before the expiration")
			}
			grant, err := parseGrant(g[:end])
			if err != nil {
				return err
			}
			r.Granted = grant
			s = g[end+1:]
			continue
		}
		if ts, ok := strings.CutPrefix(body, "expiration:"); ok {
			end := strings.IndexByte(ts, ']')
			if end < 0 {
				return fmt.Errorf("expiration block is not closed with ]")
			}
			if r.HasExpiration() {
				return fmt.Errorf("expiration given twice")
			}
			t, err := time.Parse(time.RFC3339Nano, ts[:end])
			if err != nil {
				return fmt.Errorf("expiration %q is not an RFC 3339 timestamp", ts[:end])
			}
			r.Expiration = t.UTC()
			s = ts[end+1:]
			continue
		}
		if r.Caveat != nil {
			return fmt.Errorf("only one caveat may be attached")
		}
		if r.Granted != nil || r.HasExpiration() {
			return fmt.Errorf("the caveat must come before the granted and expiration blocks")
		}
		nameEnd := strings.IndexAny(body, ":]")
		if nameEnd < 0 {
			return fmt.Errorf("caveat block is not closed with ]")
		}
		c := &Caveat{Name: body[:nameEnd]}
		if err := ValidateCaveatName("caveat name", c.Name); err != nil {
			return err
		}
		rest := body[nameEnd:]
		if rest[0] == ':' {
			ctx, n, err := decodeContext(rest[1:])
			if err != nil {
				return fmt.Errorf("caveat %s context: %v", c.Name, err)
			}
			c.Context = ctx
			rest = rest[1+n:]
			if rest == "" || rest[0] != ']' {
				return fmt.Errorf("caveat %s: expected ] after the context", c.Name)
			}
		}
		r.Caveat = c
		s = rest[1:]
	}
	return nil
}

// parseGrant reads "GRANTOR@VIA", e.g. "user:eve@organization:acme-eu". The grantor
// is one subject (not a subject set or a wildcard).
func parseGrant(s string) (*Grant, error) {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return nil, fmt.Errorf("granted %q: expected GRANTOR@VIA, e.g. user:eve@organization:acme", truncate(s, 80))
	}
	by, err := ParseSubject(s[:at])
	if err != nil {
		return nil, fmt.Errorf("granted by: %w", err)
	}
	if by.Relation != "" || by.IsWildcard() {
		return nil, &ValidationError{"granted by", by.String(), "must be one subject, not a subject set or a wildcard"}
	}
	via, err := ParseObject(s[at+1:])
	if err != nil {
		return nil, fmt.Errorf("granted via: %w", err)
	}
	return &Grant{By: by, Via: via}, nil
}

// decodeContext decodes one JSON object at the start of s and returns it with the
// number of bytes it used. Numbers keep their literal form (json.Number).
func decodeContext(s string) (map[string]any, int, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, 0, fmt.Errorf("not a JSON object: %v", err)
	}
	if m == nil {
		return nil, 0, fmt.Errorf("not a JSON object")
	}
	return m, int(dec.InputOffset()), nil
}

// Format prints a relationship in the text form Parse reads.
func Format(r Relationship) string {
	var b strings.Builder
	b.Grow(len(r.Resource.Type) + len(r.Resource.ID) + len(r.Relation) + len(r.Subject.Type) + len(r.Subject.ID) + len(r.Subject.Relation) + 8)
	b.WriteString(r.Resource.Type)
	b.WriteByte(':')
	b.WriteString(r.Resource.ID)
	b.WriteByte('#')
	b.WriteString(r.Relation)
	b.WriteByte('@')
	b.WriteString(r.Subject.String())
	if r.Caveat != nil {
		b.WriteByte('[')
		b.WriteString(r.Caveat.Name)
		if len(r.Caveat.Context) > 0 {
			b.WriteByte(':')
			b.Write(MarshalContext(r.Caveat.Context))
		}
		b.WriteByte(']')
	}
	if g := r.Granted; g != nil {
		b.WriteString("[" + grantedPrefix)
		b.WriteString(g.By.String())
		b.WriteByte('@')
		b.WriteString(g.Via.String())
		b.WriteByte(']')
	}
	if r.HasExpiration() {
		b.WriteString("[expiration:")
		b.WriteString(r.Expiration.UTC().Format(time.RFC3339Nano))
		b.WriteByte(']')
	}
	return b.String()
}

// MarshalContext encodes a caveat context as compact JSON with sorted keys, so equal
// contexts always print the same.
func MarshalContext(ctx map[string]any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ctx); err != nil {
		return []byte("{}")
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

package tuple

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on names and identifiers. They match the SpiceDB rules, so relationships
// written for SpiceDB load unchanged.
const (
	// MaxIDLength is the longest object id, in bytes.
	MaxIDLength = 1024
	// MaxTypeLength is the longest type name, prefixes included.
	MaxTypeLength = 256
	// MaxNameSegment is the longest single segment of a type, relation or caveat name.
	MaxNameSegment = 64
)

// ErrInvalid is matched by every error that says a name, id or value breaks Pemba's
// rules: the errors of this package, and those of the layers above that reject a
// request's content (errors.Is(err, ErrInvalid)). The server maps it to
// INVALID_ARGUMENT.
var ErrInvalid = errors.New("invalid argument")

// ValidationError says which part of a relationship or reference is wrong and why.
type ValidationError struct {
	Field  string // "resource type", "subject id", "relation", ...
	Value  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s %q %s", e.Field, truncate(e.Value, 80), e.Reason)
}

// Is makes a ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// DefaultTenant is the tenant a request without a tenant name uses. It always exists,
// so single-tenant deployments never need to know about tenants.
const DefaultTenant = "default"

// MaxTenantNameLength is the longest tenant name.
const MaxTenantNameLength = 63

// ValidateTenantName checks a tenant name: 1 to 63 characters of a-z, 0-9, - and _,
// starting with a letter or digit. The empty name is refused here; the server resolves
// an absent tenant to DefaultTenant before anything below it sees the request.
func ValidateTenantName(name string) error {
	const field = "tenant name"
	if name == "" {
		return &ValidationError{field, name, "is empty"}
	}
	if len(name) > MaxTenantNameLength {
		return &ValidationError{field, name, fmt.Sprintf("is longer than %d characters", MaxTenantNameLength)}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))
		if !ok {
			return &ValidationError{field, name, "may only contain a-z, 0-9, - and _ and must start with a letter or digit"}
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ValidateTypeName checks a definition name such as "document" or "acme/document":
// slash-separated segments, each a lower-case identifier of 3 to 64 characters.
func ValidateTypeName(field, name string) error {
	if name == "" {
		return &ValidationError{field, name, "is empty"}
	}
	if len(name) > MaxTypeLength {
		return &ValidationError{field, name, fmt.Sprintf("is longer than %d characters", MaxTypeLength)}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if reason := identifierProblem(seg); reason != "" {
			return &ValidationError{field, name, reason}
		}
	}
	return nil
}

// ValidateRelationName checks a relation or permission name: a lower-case identifier of
// 3 to 64 characters that starts with a letter and does not end with an underscore.
func ValidateRelationName(field, name string) error {
	if name == "" {
		return &ValidationError{field, name, "is empty"}
	}
	if reason := identifierProblem(name); reason != "" {
		return &ValidationError{field, name, reason}
	}
	return nil
}

// ValidateCaveatName checks a caveat name; it follows the type-name rules.
func ValidateCaveatName(field, name string) error { return ValidateTypeName(field, name) }

// IsIdentifier reports whether s is a valid single-segment name.
func IsIdentifier(s string) bool { return identifierProblem(s) == "" }

func identifierProblem(s string) string {
	switch {
	case s == "":
		return "has an empty segment"
	case len(s) < 3:
		return "must be at least 3 characters long"
	case len(s) > MaxNameSegment:
		return fmt.Sprintf("must be at most %d characters per segment", MaxNameSegment)
	case s[0] < 'a' || s[0] > 'z':
		return "must start with a lower-case letter"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Sprintf("may only contain a-z, 0-9 and _ (found %q)", c)
		}
	}
	if s[len(s)-1] == '_' {
		return "must not end with _"
	}
	return ""
}

// ValidateObjectID checks an object id: 1 to 1024 bytes of a-z A-Z 0-9 and / _ | - = +.
// The wildcard "*" is not an object id; subjects check for it separately.
func ValidateObjectID(field, id string) error {
	if id == "" {
		return &ValidationError{field, id, "is empty"}
	}
	if len(id) > MaxIDLength {
		return &ValidationError{field, id, fmt.Sprintf("is longer than %d bytes", MaxIDLength)}
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return &ValidationError{field, id, fmt.Sprintf("contains %q; ids may only contain a-z A-Z 0-9 / _ | - = +", id[i])}
		}
	}
	return nil
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '/' || c == '_' || c == '|' || c == '-' || c == '=' || c == '+'
}

// ValidateObject checks an object reference.
func ValidateObject(field string, o ObjectRef) error {
	if err := ValidateTypeName(field+" type", o.Type); err != nil {
		return err
	}
	return ValidateObjectID(field+" id", o.ID)
}

// ValidateSubject checks a subject reference. A wildcard subject may not name a relation.
func ValidateSubject(s SubjectRef) error {
	if err := ValidateTypeName("subject type", s.Type); err != nil {
		return err
	}
	if s.ID == Wildcard {
		if s.Relation != "" {
			return &ValidationError{"subject", s.String(), "is a wildcard and cannot name a relation"}
		}
		return nil
	}
	if err := ValidateObjectID("subject id", s.ID); err != nil {
		return err
	}
	if s.Relation != "" {
		return ValidateRelationName("subject relation", s.Relation)
	}
	return nil
}

// Validate checks every name and id of a relationship against the rules above. It does
// not consult a schema; the write path does that.
func Validate(r Relationship) error {
	if err := ValidateObject("resource", r.Resource); err != nil {
		return err
	}
	if err := ValidateRelationName("relation", r.Relation); err != nil {
		return err
	}
	if err := ValidateSubject(r.Subject); err != nil {
		return err
	}
	if r.Caveat != nil {
		if err := ValidateCaveatName("caveat name", r.Caveat.Name); err != nil {
			return err
		}
	}
	if g := r.Granted; g != nil {
		if g.By.Relation != "" || g.By.IsWildcard() {
			return &ValidationError{"granted by", g.By.String(), "must be one subject, not a subject set or a wildcard"}
		}
		if err := ValidateObject("granted by", g.By.Object()); err != nil {
			return err
		}
		if err := ValidateObject("granted via", g.Via); err != nil {
			return err
		}
	}
	return nil
}

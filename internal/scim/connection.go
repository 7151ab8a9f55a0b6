package scim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// ConnectionKind is the record kind of connections.
const ConnectionKind = "scim_connection"

// TokenPrefix starts every SCIM token, so a leaked one is recognisable (secret
// scanners, logs) and never mistaken for an API key.
const TokenPrefix = "pscim_"

// tokenBytes is the random part of a token.
const tokenBytes = 32

// MaxConnectionName is the longest connection name.
const MaxConnectionName = 64

// MaxRoleMappings is the most role mappings a connection may have.
const MaxRoleMappings = 32

// keyToken is the record key of a connection's token digest.
const keyToken = "token-sha256="

// RoleMapping maps a directory group, by display name, to a relation of the
// connection's organisation.
type RoleMapping struct {
	Group    string `json:"group"`
	Relation string `json:"relation"`
}

// Connection binds one directory to one organisation of one tenant.
type Connection struct {
	Name         string
	Organization tuple.ObjectRef
	// Creator is the subject whose rights authorise the directory's writes; nil when
	// an admin key created the connection without one.
	Creator      *tuple.SubjectRef
	CreatedByKey string
	RoleMappings []RoleMapping
	// TokenDigest is the SHA-256 digest of the current token, hex-encoded.
	TokenDigest string
	// TokenHint is the token's first characters, to tell tokens apart.
	TokenHint string
	CreatedAt time.Time
	RotatedAt time.Time
	RevokedAt time.Time
	// Revision is the revision of the connection's last change (set on reads).
	Revision datastore.Revision
}

// Revoked reports whether the connection was revoked.
func (c *Connection) Revoked() bool { return !c.RevokedAt.IsZero() }

// Directory is how the audit trail names the connection's directory.
func (c *Connection) Directory() string { return c.Name }

// Principal is the API principal the audit trail records for the directory's writes.
func (c *Connection) Principal() string { return "scim:" + c.Name }

// RoleFor returns the organisation relation a group's display name maps to, or "".
func (c *Connection) RoleFor(displayName string) string {
	for _, m := range c.RoleMappings {
		if strings.EqualFold(m.Group, displayName) {
			return m.Relation
		}
	}
	return ""
}

// ValidateName checks a connection name.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("connection name is empty")
	}
	if len(name) > MaxConnectionName {
		return fmt.Errorf("connection name %q is longer than %d characters", name[:MaxConnectionName]+"…", MaxConnectionName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("connection name %q contains %q; use letters, digits, '-' and '_'", name, c)
		}
	}
	return nil
}

// ValidateRoleMappings checks the shape of role mappings: named groups, relation
// names, no group twice. Whether the relation may be mapped is the write path's
// question (it needs the schema and the creator's rights).
func ValidateRoleMappings(ms []RoleMapping) error {
	if len(ms) > MaxRoleMappings {
		return fmt.Errorf("%d role mappings, more than the %d a connection may have", len(ms), MaxRoleMappings)
	}
	seen := map[string]bool{}
	for i, m := range ms {
		g := strings.TrimSpace(m.Group)
		switch {
		case g == "":
			return fmt.Errorf("role mapping %d: group is empty; name the directory group's display name", i)
		case len(g) > 256:
			return fmt.Errorf("role mapping %d: group name is longer than 256 bytes", i)
		case seen[strings.ToLower(g)]:
			return fmt.Errorf("role mapping %d: group %q is mapped twice", i, g)
		}
		seen[strings.ToLower(g)] = true
		if err := tuple.ValidateRelationName("relation", m.Relation); err != nil {
			return fmt.Errorf("role mapping %d (group %q): %v", i, g, err)
		}
	}
	return nil
}

// NewToken makes a token for a connection in tenant: the prefix, the tenant, and 32
// random bytes. It returns the token and its digest.
func NewToken(tenant string) (token, digest string) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err)) // crypto/rand does not fail on supported systems
	}
	token = TokenPrefix + tenant + "." + base64.RawURLEncoding.EncodeToString(b[:])
	return token, Digest(token)
}

// Digest is the hex SHA-256 digest a token is stored as.
func Digest(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// TokenTenant returns the tenant a token names, or false when the token is not one
// of Pemba's SCIM tokens.
func TokenTenant(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok {
		return "", false
	}
	tenant, secret, ok := strings.Cut(rest, ".")
	if !ok || base64.RawURLEncoding.DecodedLen(len(secret)) != tokenBytes || tuple.ValidateTenantName(tenant) != nil {
		return "", false
	}
	return tenant, true
}

// TokenKey is the record key that finds the connection of a token.
func TokenKey(token string) string { return keyToken + Digest(token) }

// Matches reports, in constant time, whether token is the connection's current one.
func (c *Connection) Matches(token string) bool {
	want, err := hex.DecodeString(c.TokenDigest)
	if err != nil {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(want, got[:]) == 1 && !c.Revoked()
}

// hint is the part of a token shown in listings.
func hint(token string) string {
	if len(token) < len(TokenPrefix)+8 {
		return TokenPrefix + "…"
	}
	return TokenPrefix + "…" + token[len(token)-4:]
}

// SetToken makes the token current.
func (c *Connection) SetToken(token string) {
	c.TokenDigest = Digest(token)
	c.TokenHint = hint(token)
}

type storedConnection struct {
	Organization string        `json:"organization"`
	Creator      string        `json:"creator,omitempty"`
	CreatedByKey string        `json:"created_by_key,omitempty"`
	RoleMappings []RoleMapping `json:"role_mappings,omitempty"`
	TokenDigest  string        `json:"token_sha256"`
	TokenHint    string        `json:"token_hint"`
	CreatedAt    time.Time     `json:"created_at"`
	RotatedAt    *time.Time    `json:"rotated_at,omitempty"`
	RevokedAt    *time.Time    `json:"revoked_at,omitempty"`
}

// Record encodes the connection as a record. A revoked connection has no token key,
// so its token finds nothing.
func (c *Connection) Record() (datastore.Record, error) {
	s := storedConnection{Organization: c.Organization.String(), CreatedByKey: c.CreatedByKey, RoleMappings: c.RoleMappings,
		TokenDigest: c.TokenDigest, TokenHint: c.TokenHint, CreatedAt: c.CreatedAt}
	if c.Creator != nil {
		s.Creator = c.Creator.String()
	}
	if !c.RotatedAt.IsZero() {
		s.RotatedAt = &c.RotatedAt
	}
	var keys []string
	if c.Revoked() {
		s.RevokedAt = &c.RevokedAt
	} else {
		keys = []string{keyToken + c.TokenDigest}
	}
	data, err := json.Marshal(s)
	if err != nil {
		return datastore.Record{}, err
	}
	return datastore.Record{Kind: ConnectionKind, ID: c.Name, Data: data, Keys: keys}, nil
}

// DecodeConnection reads a connection record.
func DecodeConnection(rec datastore.Record) (Connection, error) {
	var s storedConnection
	if err := json.Unmarshal(rec.Data, &s); err != nil {
		return Connection{}, fmt.Errorf("decoding SCIM connection %s: %w", rec.ID, err)
	}
	org, err := tuple.ParseObject(s.Organization)
	if err != nil {
		return Connection{}, fmt.Errorf("decoding SCIM connection %s: organization: %w", rec.ID, err)
	}
	c := Connection{Name: rec.ID, Organization: org, CreatedByKey: s.CreatedByKey, RoleMappings: s.RoleMappings,
		TokenDigest: s.TokenDigest, TokenHint: s.TokenHint, CreatedAt: s.CreatedAt, Revision: rec.Revision}
	if s.Creator != "" {
		sub, err := tuple.ParseSubject(s.Creator)
		if err != nil {
			return Connection{}, fmt.Errorf("decoding SCIM connection %s: creator: %w", rec.ID, err)
		}
		c.Creator = &sub
	}
	if s.RotatedAt != nil {
		c.RotatedAt = *s.RotatedAt
	}
	if s.RevokedAt != nil {
		c.RevokedAt = *s.RevokedAt
	}
	return c, nil
}

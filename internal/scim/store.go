package scim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// Record kinds of SCIM resources.
const (
	UserKind  = "scim_user"
	GroupKind = "scim_group"
)

// Stored is a User or Group as its record keeps it.
type Stored struct {
	ID         string
	Connection string
	// Attrs are the resource's attributes as Normalize returned them, without id,
	// meta and, for a Group, members (which are relationships).
	Attrs        Resource
	Created      time.Time
	LastModified time.Time
	// Dormant are the groups an inactive User was removed from when deactivated (or
	// added to while inactive), restored when it is activated again.
	Dormant  []string
	Revision datastore.Revision
}

type storedJSON struct {
	Connection   string    `json:"connection"`
	Attrs        Resource  `json:"attributes"`
	Created      time.Time `json:"created"`
	LastModified time.Time `json:"last_modified"`
	Dormant      []string  `json:"dormant_groups,omitempty"`
}

// NewID is a resource id: 32 hex digits, valid as a Pemba object id.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// ConnKey is the record key of every resource of a connection.
func ConnKey(conn string) string { return "conn=" + conn }

// UserNameKey finds a connection's User by userName (case-insensitively, as
// RFC 7643 says userName compares).
func UserNameKey(conn, userName string) string {
	return "conn=" + conn + "|username=" + strings.ToLower(userName)
}

// ExternalIDKey finds a connection's resource by externalId.
func ExternalIDKey(conn, externalID string) string {
	return "conn=" + conn + "|externalid=" + externalID
}

// DisplayNameKey finds a connection's Group by displayName.
func DisplayNameKey(conn, name string) string {
	return "conn=" + conn + "|displayname=" + strings.ToLower(name)
}

// StringAttr returns a top-level string attribute, or "".
func (s *Stored) StringAttr(name string) string {
	v, _ := s.Attrs[name].(string)
	return v
}

// Active reports whether a User is active (absent means active).
func (s *Stored) Active() bool {
	b, ok := s.Attrs["active"].(bool)
	return !ok || b
}

// Validate checks the resource's required attributes and bounds.
func (rt *ResourceType) Validate(s *Stored) error {
	check := func(name string, max int, required bool) error {
		v, present := s.Attrs[name]
		str, _ := v.(string)
		switch {
		case required && strings.TrimSpace(str) == "":
			return Errorf(http.StatusBadRequest, "invalidValue", "%s is required", name)
		case present && len(str) > max:
			return Errorf(http.StatusBadRequest, "invalidValue", "%s is %d bytes, more than the %d allowed", name, len(str), max)
		}
		return nil
	}
	if err := check("externalId", MaxExternalID, false); err != nil {
		return err
	}
	if rt == Users {
		return check("userName", MaxUserName, true)
	}
	return check("displayName", MaxDisplayName, true)
}

// Record encodes a resource as a record of kind.
func (rt *ResourceType) Record(s *Stored) (datastore.Record, error) {
	data, err := json.Marshal(storedJSON{Connection: s.Connection, Attrs: s.Attrs, Created: s.Created, LastModified: s.LastModified, Dormant: s.Dormant})
	if err != nil {
		return datastore.Record{}, err
	}
	if len(data) > datastore.MaxRecordData {
		return datastore.Record{}, Errorf(http.StatusRequestEntityTooLarge, "tooLarge", "the %s is %d bytes stored, more than the %d a resource may hold", rt.Name, len(data), datastore.MaxRecordData)
	}
	keys := []string{ConnKey(s.Connection)}
	kind := GroupKind
	if rt == Users {
		kind = UserKind
		keys = append(keys, UserNameKey(s.Connection, s.StringAttr("userName")))
	} else {
		keys = append(keys, DisplayNameKey(s.Connection, s.StringAttr("displayName")))
	}
	if ext := s.StringAttr("externalId"); ext != "" {
		keys = append(keys, ExternalIDKey(s.Connection, ext))
	}
	return datastore.Record{Kind: kind, ID: s.ID, Data: data, Keys: keys}, nil
}

// Kind is the record kind of the resource type.
func (rt *ResourceType) Kind() string {
	if rt == Users {
		return UserKind
	}
	return GroupKind
}

// Decode reads a resource record.
func Decode(rec datastore.Record) (Stored, error) {
	var j storedJSON
	if err := json.Unmarshal(rec.Data, &j); err != nil {
		return Stored{}, fmt.Errorf("decoding SCIM resource %s: %w", rec.ID, err)
	}
	if j.Attrs == nil {
		j.Attrs = Resource{}
	}
	return Stored{ID: rec.ID, Connection: j.Connection, Attrs: j.Attrs, Created: j.Created, LastModified: j.LastModified,
		Dormant: j.Dormant, Revision: rec.Revision}, nil
}

// Version is the ETag of a resource at its revision (RFC 7644 §3.14).
func Version(rev datastore.Revision) string { return fmt.Sprintf(`W/"%d"`, rev) }

// Render is the resource as the endpoints return it: its attributes, id, schemas and
// meta; members, for a Group, are the caller's to add.
func (rt *ResourceType) Render(s *Stored, baseURL string) Resource {
	out := maps.Clone(s.Attrs)
	out["id"] = s.ID
	schemas := []any{rt.Schema}
	for ext := range rt.Extensions {
		if _, ok := out[ext]; ok {
			schemas = append(schemas, ext)
		}
	}
	out["schemas"] = schemas
	out["meta"] = map[string]any{
		"resourceType": rt.Name,
		"created":      s.Created.UTC().Format(time.RFC3339Nano),
		"lastModified": s.LastModified.UTC().Format(time.RFC3339Nano),
		"location":     baseURL + rt.Endpoint + "/" + s.ID,
		"version":      Version(s.Revision),
	}
	return out
}

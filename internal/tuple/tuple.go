package tuple

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Ellipsis is the subject relation written as "#..." in the text form. It means "the
// subject object itself" and is stored as the empty relation.
const Ellipsis = "..."

// Wildcard is the subject id that stands for every object of the subject type.
const Wildcard = "*"

// ObjectRef names one object: a type and an id.
type ObjectRef struct {
	Type string
	ID   string
}

// String returns "type:id".
func (o ObjectRef) String() string { return o.Type + ":" + o.ID }

// SubjectRef names a subject: an object, optionally narrowed to a relation on it
// (a subject set such as group:eng#member). An empty Relation means the object itself.
type SubjectRef struct {
	Type     string
	ID       string
	Relation string
}

// Object returns the subject's object without its relation.
func (s SubjectRef) Object() ObjectRef { return ObjectRef{Type: s.Type, ID: s.ID} }

// IsWildcard reports whether the subject is "type:*".
func (s SubjectRef) IsWildcard() bool { return s.ID == Wildcard }

// String returns "type:id" or "type:id#relation".
func (s SubjectRef) String() string {
	if s.Relation == "" {
		return s.Type + ":" + s.ID
	}
	return s.Type + ":" + s.ID + "#" + s.Relation
}

// Caveat is a named condition attached to a relationship, with the part of its context
// that was fixed when the relationship was written.
type Caveat struct {
	Name    string
	Context map[string]any
}

// Equal reports whether two caveats have the same name and context.
func (c *Caveat) Equal(o *Caveat) bool {
	if c == nil || o == nil {
		return c == nil && o == nil
	}
	if c.Name != o.Name {
		return false
	}
	if len(c.Context) == 0 && len(o.Context) == 0 {
		return true
	}
	a, _ := json.Marshal(c.Context)
	b, _ := json.Marshal(o.Context)
	return string(a) == string(b)
}

// Relationship is resource#relation@subject with an optional caveat, grant
// dependency and expiry. A zero Expiration means the relationship never expires.
type Relationship struct {
	Resource ObjectRef
	Relation string
	Subject  SubjectRef
	Caveat   *Caveat
	// Granted, when set, records who granted this relationship on someone's behalf and
	// through which object they held the right. A grant rule that declares what its
	// grants depend on (the grantee staying a member there, the grantor keeping the
	// authority) makes the relationship count only while that holds.
	Granted    *Grant
	Expiration time.Time
}

// Grant is the grantor of a delegated relationship and the object (usually an
// organisation) through which the grantor held the right to grant it.
type Grant struct {
	By  SubjectRef
	Via ObjectRef
}

// Equal reports whether two grants are the same.
func (g *Grant) Equal(o *Grant) bool {
	if g == nil || o == nil {
		return g == nil && o == nil
	}
	return *g == *o
}

// Key identifies a relationship independently of its caveat and expiry: two
// relationships with the same key cannot both be stored.
type Key struct {
	ResourceType, ResourceID, Relation string
	SubjectType, SubjectID, SubjectRel string
}

// Key returns the relationship's identity.
func (r Relationship) Key() Key {
	return Key{
		ResourceType: r.Resource.Type, ResourceID: r.Resource.ID, Relation: r.Relation,
		SubjectType: r.Subject.Type, SubjectID: r.Subject.ID, SubjectRel: r.Subject.Relation,
	}
}

// String returns the relationship's text form, core part only: the same string for two
// relationships with equal keys.
func (k Key) String() string {
	s := k.ResourceType + ":" + k.ResourceID + "#" + k.Relation + "@" + k.SubjectType + ":" + k.SubjectID
	if k.SubjectRel != "" {
		s += "#" + k.SubjectRel
	}
	return s
}

// Compare orders keys by resource type, resource id, relation, subject type, subject
// id and subject relation. This is the order stores return relationships in.
func (k Key) Compare(o Key) int {
	if c := strings.Compare(k.ResourceType, o.ResourceType); c != 0 {
		return c
	}
	if c := strings.Compare(k.ResourceID, o.ResourceID); c != 0 {
		return c
	}
	if c := strings.Compare(k.Relation, o.Relation); c != 0 {
		return c
	}
	if c := strings.Compare(k.SubjectType, o.SubjectType); c != 0 {
		return c
	}
	if c := strings.Compare(k.SubjectID, o.SubjectID); c != 0 {
		return c
	}
	return strings.Compare(k.SubjectRel, o.SubjectRel)
}

// HasExpiration reports whether the relationship carries an expiry.
func (r Relationship) HasExpiration() bool { return !r.Expiration.IsZero() }

// ExpiredAt reports whether the relationship has expired at time now. A relationship
// is absent from the instant of its expiry onwards.
func (r Relationship) ExpiredAt(now time.Time) bool {
	return !r.Expiration.IsZero() && !now.Before(r.Expiration)
}

// Equal reports whether two relationships are identical, caveat, grant and expiry
// included.
func (r Relationship) Equal(o Relationship) bool {
	return r.Key() == o.Key() && r.Caveat.Equal(o.Caveat) && r.Granted.Equal(o.Granted) && r.Expiration.Equal(o.Expiration)
}

// String returns the full text form, caveat, grant and expiry included.
func (r Relationship) String() string { return Format(r) }

// Sort orders relationships by key, in place.
func Sort(rels []Relationship) {
	sort.Slice(rels, func(i, j int) bool { return rels[i].Key().Compare(rels[j].Key()) < 0 })
}

// IsWildcardObject reports whether the object is "type:*".
func (o ObjectRef) IsWildcardObject() bool { return o.ID == Wildcard }

package datastore

import (
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// RelationshipFilter selects relationships by resource and, optionally, subject. Empty
// fields match anything.
type RelationshipFilter struct {
	ResourceType     string
	ResourceIDs      []string
	ResourceIDPrefix string
	Relation         string
	Subject          *SubjectFilter
}

// SubjectFilter selects relationships by subject.
type SubjectFilter struct {
	// Type is the subject type; it is required.
	Type string
	// IDs are the subject ids to match; empty matches any id. Include tuple.Wildcard to
	// match wildcard relationships.
	IDs []string
	// Relations are the subject relations to match; empty matches any. The empty
	// string in the list matches subjects that are objects themselves (no relation).
	Relations []string
}

// Matches reports whether r passes the filter.
func (f RelationshipFilter) Matches(r tuple.Relationship) bool {
	if f.ResourceType != "" && r.Resource.Type != f.ResourceType {
		return false
	}
	if len(f.ResourceIDs) > 0 && !slices.Contains(f.ResourceIDs, r.Resource.ID) {
		return false
	}
	if f.ResourceIDPrefix != "" && !strings.HasPrefix(r.Resource.ID, f.ResourceIDPrefix) {
		return false
	}
	if f.Relation != "" && r.Relation != f.Relation {
		return false
	}
	if f.Subject != nil && !f.Subject.Matches(r.Subject) {
		return false
	}
	return true
}

// Matches reports whether s passes the filter.
func (f SubjectFilter) Matches(s tuple.SubjectRef) bool {
	if s.Type != f.Type {
		return false
	}
	if len(f.IDs) > 0 && !slices.Contains(f.IDs, s.ID) {
		return false
	}
	if len(f.Relations) > 0 && !slices.Contains(f.Relations, s.Relation) {
		return false
	}
	return true
}

// ReverseLess orders relationships the way ReverseQueryRelationships returns them:
// by subject type, subject id, subject relation, then by tuple.Key order.
func ReverseLess(a, b tuple.Key) bool { return ReverseCompare(a, b) < 0 }

// ReverseCompare is the three-way form of ReverseLess.
func ReverseCompare(a, b tuple.Key) int {
	if c := strings.Compare(a.SubjectType, b.SubjectType); c != 0 {
		return c
	}
	if c := strings.Compare(a.SubjectID, b.SubjectID); c != 0 {
		return c
	}
	if c := strings.Compare(a.SubjectRel, b.SubjectRel); c != 0 {
		return c
	}
	return a.Compare(b)
}

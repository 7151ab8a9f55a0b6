package datastore

import (
	"errors"
	"fmt"
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

// Validate checks the filter against the rules of the API: the resource type is
// required, and every type, id and relation it names must be a valid name. Stores
// answer wider filters (one without a resource type matches every type); Validate is
// for filters that come from a request. The error is a *tuple.ValidationError whose
// Field is the offending field's API name relative to the filter ("resource_type",
// "resource_ids[2]", "subject_filter.relations[0]"), so a caller can put its own path
// in front of it.
func (f RelationshipFilter) Validate() error {
	if err := tuple.ValidateTypeName("resource_type", f.ResourceType); err != nil {
		return err
	}
	for i, id := range f.ResourceIDs {
		if err := tuple.ValidateObjectID(fmt.Sprintf("resource_ids[%d]", i), id); err != nil {
			return err
		}
	}
	if f.Relation != "" {
		if err := tuple.ValidateRelationName("relation", f.Relation); err != nil {
			return err
		}
	}
	if f.Subject != nil {
		if err := f.Subject.Validate(); err != nil {
			return prefixField("subject_filter", err)
		}
	}
	return nil
}

// Validate checks the subject filter against the rules of the API: the type is
// required and must be a valid type name, ids must be valid object ids or the
// wildcard, and relations valid relation names or "" (the ellipsis). Like
// RelationshipFilter.Validate it returns a *tuple.ValidationError whose Field is
// relative to the subject filter ("type", "ids[0]", "relations[1]").
func (f SubjectFilter) Validate() error {
	if err := tuple.ValidateTypeName("type", f.Type); err != nil {
		return err
	}
	for i, id := range f.IDs {
		if id == tuple.Wildcard {
			continue
		}
		if err := tuple.ValidateObjectID(fmt.Sprintf("ids[%d]", i), id); err != nil {
			return err
		}
	}
	for i, r := range f.Relations {
		if r == "" {
			continue
		}
		if err := tuple.ValidateRelationName(fmt.Sprintf("relations[%d]", i), r); err != nil {
			return err
		}
	}
	return nil
}

// prefixField puts prefix in front of the field a validation error names, so an
// error found in a nested filter names its path from the outer one.
func prefixField(prefix string, err error) error {
	var ve *tuple.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	nested := *ve
	nested.Field = prefix + "." + ve.Field
	return &nested
}

// String describes the filter for messages, for example
// "{resource type document; relation viewer; subject type user ids alice}".
func (f RelationshipFilter) String() string {
	var parts []string
	if f.ResourceType != "" {
		parts = append(parts, "resource type "+f.ResourceType)
	}
	if len(f.ResourceIDs) > 0 {
		parts = append(parts, "resource ids "+strings.Join(f.ResourceIDs, ","))
	}
	if f.ResourceIDPrefix != "" {
		parts = append(parts, "resource id prefix "+f.ResourceIDPrefix)
	}
	if f.Relation != "" {
		parts = append(parts, "relation "+f.Relation)
	}
	if s := f.Subject; s != nil {
		d := "subject type " + s.Type
		if len(s.IDs) > 0 {
			d += " ids " + strings.Join(s.IDs, ",")
		}
		if len(s.Relations) > 0 {
			rels := make([]string, len(s.Relations))
			for i, r := range s.Relations {
				if r == "" {
					r = tuple.Ellipsis
				}
				rels[i] = r
			}
			d += " relations " + strings.Join(rels, ",")
		}
		parts = append(parts, d)
	}
	return "{" + strings.Join(parts, "; ") + "}"
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

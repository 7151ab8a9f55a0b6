package engine

import (
	"fmt"
	"strings"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// target validates a resource type and a permission (or relation) name and returns
// their schema entries. Synthetic grant permissions are accepted: the write path
// checks them through the engine like any permission.
func (cs *compiledSchema) target(resourceType, permission string) (*schema.Definition, *schema.Relation, error) {
	if resourceType == "" {
		return nil, nil, requestErr("resource type", "", "is empty")
	}
	def := cs.s.Definition(resourceType)
	if def == nil {
		return nil, nil, &RequestError{Field: "resource type", Err: cs.s.ValidateCheck(resourceType, "", "", "")}
	}
	if permission == "" {
		return nil, nil, requestErr("permission", "", "is empty")
	}
	rel := def.Relations[permission]
	if rel == nil {
		if err := cs.s.ValidateCheck(resourceType, permission, resourceType, ""); err != nil {
			return nil, nil, &RequestError{Err: err}
		}
		return nil, nil, requestErr("permission", permission, fmt.Sprintf("not found on definition `%s`", resourceType))
	}
	return def, rel, nil
}

// validateSubject checks a subject: well-formed, its type defined and its relation
// (if any) defined on that type. Wildcards are refused unless allowWildcard.
func (cs *compiledSchema) validateSubject(s tuple.SubjectRef, allowWildcard bool) error {
	if err := tuple.ValidateSubject(s); err != nil {
		return &RequestError{Field: "subject", Err: err}
	}
	if s.IsWildcard() && !allowWildcard {
		return requestErr("subject", s.String(), "is a wildcard; name a concrete subject")
	}
	sd, err := cs.s.DefinitionNamed(s.Type)
	if err != nil {
		// The same words a write of the subject gets, "did you mean" included.
		return &RequestError{Err: fmt.Errorf("subject type `%s`: %w", s.Type, err)}
	}
	if s.Relation != "" {
		if r := sd.Relations[s.Relation]; r == nil || r.Synthetic {
			return requestErr("subject relation", s.Type+"#"+s.Relation, fmt.Sprintf("is not a relation or permission of definition `%s`", s.Type))
		}
	}
	return nil
}

// validateResource checks a resource reference against the schema.
func (cs *compiledSchema) validateResource(o tuple.ObjectRef) error {
	if err := tuple.ValidateObject("resource", o); err != nil {
		return &RequestError{Err: err}
	}
	return nil
}

// validateContextual checks a request's contextual relationships: bounded in number,
// well-formed and allowed by the schema exactly as a write would be.
func (cs *compiledSchema) validateContextual(rels []tuple.Relationship, limit int) error {
	if limit > 0 && len(rels) > limit {
		return requestErr("contextual relationships", fmt.Sprint(len(rels)), fmt.Sprintf("are more than the limit of %d per request", limit))
	}
	for i, r := range rels {
		field := fmt.Sprintf("contextual relationship %d (%s)", i, tuple.Format(r))
		if err := tuple.Validate(r); err != nil {
			return &RequestError{Field: field, Err: err}
		}
		if err := cs.s.ValidateRelationship(r); err != nil {
			return &RequestError{Field: field, Err: err}
		}
	}
	return nil
}

// describe prints type:id#relation for messages.
func describe(typ, id, rel string) string {
	var b strings.Builder
	b.WriteString(typ)
	b.WriteByte(':')
	b.WriteString(id)
	b.WriteByte('#')
	b.WriteString(rel)
	return b.String()
}

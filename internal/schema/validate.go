package schema

import (
	"fmt"
	"strings"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// definitionNotFound builds the error for an unknown definition.
// DefinitionNamed returns the definition called name, or an error that names it and,
// when a defined name is close, asks "did you mean".
func (s *Schema) DefinitionNamed(name string) (*Definition, error) {
	if d := s.Definition(name); d != nil {
		return d, nil
	}
	return nil, s.definitionNotFound(name)
}

func (s *Schema) definitionNotFound(name string) error {
	return fmt.Errorf("definition `%s` not found%s", name, suggest(name, s.DefinitionNames()))
}

// ValidateRelationship checks a relationship against the schema before it is written:
// the resource type exists, the relation exists and is a relation (not a permission),
// the subject type, subject relation and wildcard are allowed, the caveat is the one
// an allowed subject type names (or none when none is required), and an expiry is
// only given where `with expiration` allows it, and the caveat context written with
// the relationship fits the parameter types. Errors name the thing at fault.
func (s *Schema) ValidateRelationship(r tuple.Relationship) error {
	d := s.Definition(r.Resource.Type)
	if d == nil {
		return s.definitionNotFound(r.Resource.Type)
	}
	rel, ok := d.Relations[r.Relation]
	if !ok || rel.Synthetic {
		return fmt.Errorf("relation `%s` not found on definition `%s`%s", r.Relation, d.Name, suggest(r.Relation, relationNames(d)))
	}
	if rel.Kind == KindPermission {
		return fmt.Errorf("`%s` is a permission on definition `%s`, not a relation: relationships can only be written for relations", r.Relation, d.Name)
	}
	where := "`" + d.Name + "#" + rel.Name + "`"
	subjRel := r.Subject.Relation
	if subjRel == tuple.Ellipsis {
		subjRel = ""
	}
	wildcard := r.Subject.IsWildcard()
	if s.Definition(r.Subject.Type) == nil {
		return fmt.Errorf("subject type `%s`: %w", r.Subject.Type, s.definitionNotFound(r.Subject.Type))
	}
	// Candidates with the same type, subject relation and wildcardness.
	var same []AllowedSubject
	typeSeen := false
	for _, a := range rel.AllowedSubjects {
		if a.Type != r.Subject.Type {
			continue
		}
		typeSeen = true
		if a.Wildcard == wildcard && a.Relation == subjRel {
			same = append(same, a)
		}
	}
	if len(same) == 0 {
		allowed := allowedList(rel.AllowedSubjects)
		switch {
		case !typeSeen:
			return fmt.Errorf("subject type `%s` is not allowed on %s (allowed: %s)", r.Subject.Type, where, allowed)
		case wildcard:
			return fmt.Errorf("wildcard subject `%s:*` is not allowed on %s (allowed: %s)", r.Subject.Type, where, allowed)
		case subjRel != "":
			return fmt.Errorf("subject relation `%s#%s` is not allowed on %s (allowed: %s)", r.Subject.Type, subjRel, where, allowed)
		default:
			return fmt.Errorf("subject `%s` without a subject relation is not allowed on %s (allowed: %s)", r.Subject.Type, where, allowed)
		}
	}
	subject := subjectKind(r.Subject.Type, subjRel, wildcard)
	caveatName := ""
	if r.Caveat != nil {
		caveatName = r.Caveat.Name
		if s.Caveat(caveatName) == nil {
			return fmt.Errorf("caveat `%s` not found%s", caveatName, suggest(caveatName, s.CaveatNames()))
		}
	}
	var withCaveat []AllowedSubject
	for _, a := range same {
		if a.Caveat == caveatName {
			withCaveat = append(withCaveat, a)
		}
	}
	if len(withCaveat) == 0 {
		if caveatName == "" {
			return fmt.Errorf("relationships on %s with subject `%s` require a caveat (allowed: %s)", where, subject, allowedList(same))
		}
		return fmt.Errorf("caveat `%s` is not allowed on %s for subject `%s` (allowed: %s)", caveatName, where, subject, allowedList(same))
	}
	hasExpiry := !r.Expiration.IsZero()
	for _, a := range withCaveat {
		if a.Expiration == hasExpiry {
			if r.Caveat != nil && len(r.Caveat.Context) > 0 {
				if cv := s.Caveat(caveatName); cv != nil && cv.Program != nil {
					return cv.Program.CheckContext(r.Caveat.Context)
				}
			}
			return nil
		}
	}
	if hasExpiry {
		return fmt.Errorf("an expiration is not allowed on %s for subject `%s` (allowed: %s); the relation must allow `with expiration`", where, subject, allowedList(same))
	}
	return fmt.Errorf("relationships on %s with subject `%s` must carry an expiration (allowed: %s)", where, subject, allowedList(same))
}

func subjectKind(typ, rel string, wildcard bool) string {
	switch {
	case wildcard:
		return typ + ":*"
	case rel != "":
		return typ + "#" + rel
	}
	return typ
}

func allowedList(as []AllowedSubject) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}

// ValidateCheck checks the names of a check request: the resource type exists, the
// permission names a relation or permission on it, the subject type exists and, when
// given, the subject relation exists on the subject type.
func (s *Schema) ValidateCheck(resourceType, permission, subjectType, subjectRelation string) error {
	d := s.Definition(resourceType)
	if d == nil {
		return s.definitionNotFound(resourceType)
	}
	if r, ok := d.Relations[permission]; !ok || r.Synthetic {
		return fmt.Errorf("permission or relation `%s` not found on definition `%s`%s", permission, d.Name, suggest(permission, d.Order))
	}
	sd := s.Definition(subjectType)
	if sd == nil {
		return fmt.Errorf("subject type `%s`: %w", subjectType, s.definitionNotFound(subjectType))
	}
	if subjectRelation != "" && subjectRelation != tuple.Ellipsis {
		if r, ok := sd.Relations[subjectRelation]; !ok || r.Synthetic {
			return fmt.Errorf("subject relation `%s` not found on definition `%s`%s", subjectRelation, sd.Name, suggest(subjectRelation, sd.Order))
		}
	}
	return nil
}

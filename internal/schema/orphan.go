package schema

import "fmt"

// OrphanCheck describes stored relationships that a schema change would orphan: the
// write path queries the store for them and refuses the change when any exist.
//
// Matching: an empty ResourceType matches every resource type and an empty Relation
// every relation. An empty SubjectType matches every subject (and then the subject
// fields after it are ignored). With a SubjectType the match is exact, as in
// ValidateRelationship: SubjectRelation ("" for a plain object), Wildcard, Caveat
// ("" for no caveat) and Expiration (whether the relationship has an expiry).
type OrphanCheck struct {
	ResourceType    string
	Relation        string
	SubjectType     string
	SubjectRelation string
	Wildcard        bool
	Caveat          string
	Expiration      bool
	// Description says in words what the check looks for and why, e.g.
	// "relationships on relation `document#viewer`, which the new schema removes".
	Description string
}

// String returns the description.
func (o OrphanCheck) String() string { return o.Description }

// OrphanChecks lists, for every removal from old to new that could leave stored
// relationships without a place in the schema, what to look for in the store:
// relationships on a removed definition, relationships whose subject is of a removed
// definition, relationships on a removed relation (or one that became a permission),
// and relationships of a subject type removed from a relation.
func OrphanChecks(old, new *Schema) []OrphanCheck {
	old, new = orEmpty(old), orEmpty(new)
	var out []OrphanCheck
	for _, name := range old.DefinitionNames() {
		od := old.Definitions[name]
		nd := new.Definitions[name]
		if nd == nil {
			out = append(out,
				OrphanCheck{ResourceType: name,
					Description: fmt.Sprintf("relationships on definition `%s`, which the new schema removes", name)},
				OrphanCheck{SubjectType: name, Description: fmt.Sprintf("relationships whose subject is of type `%s`, which the new schema removes", name)})
			continue
		}
		for _, rn := range od.Order {
			or := od.Relations[rn]
			if or.Kind != KindRelation {
				continue
			}
			nr := nd.Relations[rn]
			switch {
			case nr == nil:
				out = append(out, OrphanCheck{ResourceType: name, Relation: rn,
					Description: fmt.Sprintf("relationships on relation `%s#%s`, which the new schema removes", name, rn)})
				continue
			case nr.Kind != KindRelation:
				out = append(out, OrphanCheck{ResourceType: name, Relation: rn,
					Description: fmt.Sprintf("relationships on relation `%s#%s`, which the new schema turns into a permission", name, rn)})
				continue
			}
			for _, a := range or.AllowedSubjects {
				kept := false
				for _, b := range nr.AllowedSubjects {
					if a == b {
						kept = true
						break
					}
				}
				if kept {
					continue
				}
				out = append(out, OrphanCheck{ResourceType: name, Relation: rn, SubjectType: a.Type,
					SubjectRelation: a.Relation, Wildcard: a.Wildcard, Caveat: a.Caveat, Expiration: a.Expiration,
					Description: fmt.Sprintf("relationships on `%s#%s` with subject type `%s`, which the new schema no longer allows there", name, rn, a)})
			}
		}
	}
	return out
}

// Package openfga translates OpenFGA authorisation models (the DSL of .fga files and
// the JSON of the OpenFGA API) into Pemba's schema language, and OpenFGA tuples
// (JSON, YAML, CSV as the fga CLI writes them) into Pemba relationships with the same
// translation. What has no equivalent is reported with where it is, and nothing is
// translated then.
package openfga

// Model is an authorisation model in the shape of the OpenFGA API's JSON
// (type_definitions, conditions, schema_version). The DSL parser builds the same.
type Model struct {
	SchemaVersion   string               `json:"schema_version"`
	TypeDefinitions []TypeDefinition     `json:"type_definitions"`
	Conditions      map[string]Condition `json:"conditions,omitempty"`
}

// TypeDefinition is one type with its relations.
type TypeDefinition struct {
	Type      string             `json:"type"`
	Relations map[string]Userset `json:"relations,omitempty"`
	Metadata  *TypeMetadata      `json:"metadata,omitempty"`
	// order keeps the DSL's order of relations (JSON objects have none; their
	// relations are sorted).
	order []string
}

// TypeMetadata carries the directly related types of each relation.
type TypeMetadata struct {
	Relations map[string]RelationMetadata `json:"relations,omitempty"`
}

// RelationMetadata lists what may be written to a relation directly.
type RelationMetadata struct {
	DirectlyRelatedUserTypes []RelationReference `json:"directly_related_user_types,omitempty"`
}

// RelationReference is one directly related type: user, group#member, user:*, or
// any of those with a condition.
type RelationReference struct {
	Type      string    `json:"type"`
	Relation  string    `json:"relation,omitempty"`
	Wildcard  *struct{} `json:"wildcard,omitempty"`
	Condition string    `json:"condition,omitempty"`
}

// Userset is a relation's rewrite: exactly one field is set.
type Userset struct {
	This            *struct{}       `json:"this,omitempty"`
	ComputedUserset *ObjectRelation `json:"computedUserset,omitempty"`
	TupleToUserset  *TupleToUserset `json:"tupleToUserset,omitempty"`
	Union           *Usersets       `json:"union,omitempty"`
	Intersection    *Usersets       `json:"intersection,omitempty"`
	Difference      *Difference     `json:"difference,omitempty"`
}

// ObjectRelation names a relation of the same object.
type ObjectRelation struct {
	Object   string `json:"object,omitempty"`
	Relation string `json:"relation"`
}

// TupleToUserset is "computed from tupleset": follow tupleset, then computed there.
type TupleToUserset struct {
	Tupleset        ObjectRelation `json:"tupleset"`
	ComputedUserset ObjectRelation `json:"computedUserset"`
}

// Usersets are the children of a union or an intersection.
type Usersets struct {
	Child []Userset `json:"child"`
}

// Difference is "base but not subtract".
type Difference struct {
	Base     Userset `json:"base"`
	Subtract Userset `json:"subtract"`
}

// Condition is a named CEL expression over typed parameters.
type Condition struct {
	Name       string                  `json:"name"`
	Expression string                  `json:"expression"`
	Parameters map[string]ParamTypeRef `json:"parameters,omitempty"`
	// order keeps the DSL's order of parameters.
	order []string
}

// ParamTypeRef is a parameter type: TYPE_NAME_INT, TYPE_NAME_LIST of ..., etc.
type ParamTypeRef struct {
	TypeName     string         `json:"type_name"`
	GenericTypes []ParamTypeRef `json:"generic_types,omitempty"`
}

package openfga

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Tuple is an OpenFGA relationship tuple as its API, its store files and the fga CLI
// write it.
type Tuple struct {
	User      string          `json:"user" yaml:"user"`
	Relation  string          `json:"relation" yaml:"relation"`
	Object    string          `json:"object" yaml:"object"`
	Condition *TupleCondition `json:"condition,omitempty" yaml:"condition,omitempty"`
}

// TupleCondition is a tuple's condition with its stored context.
type TupleCondition struct {
	Name    string         `json:"name" yaml:"name"`
	Context map[string]any `json:"context,omitempty" yaml:"context,omitempty"`
}

// ParseTuples reads a tuple file by its extension: .json (an array, or an object with
// "tuples" or the API's "tuple_keys"), .yaml/.yml (a list, or "tuples:"), or .csv with
// the fga CLI's header: user_type, user_id, user_relation, relation, object_type,
// object_id, condition_name, condition_context.
func ParseTuples(name string, data []byte) ([]Tuple, error) {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".csv"):
		return parseCSV(name, data)
	case strings.HasSuffix(lower, ".yaml"), strings.HasSuffix(lower, ".yml"):
		var list []Tuple
		if err := yaml.Unmarshal(data, &list); err == nil {
			return list, nil
		}
		var wrapped struct {
			Tuples []Tuple `yaml:"tuples"`
		}
		if err := yaml.Unmarshal(data, &wrapped); err != nil {
			return nil, fmt.Errorf("%s: not a YAML list of tuples: %v", name, err)
		}
		return wrapped.Tuples, nil
	case strings.HasSuffix(lower, ".json"):
		var list []Tuple
		if err := json.Unmarshal(data, &list); err == nil {
			return list, nil
		}
		var wrapped struct {
			Tuples    []Tuple `json:"tuples"`
			TupleKeys []Tuple `json:"tuple_keys"`
		}
		if err := json.Unmarshal(data, &wrapped); err != nil {
			return nil, fmt.Errorf("%s: not a JSON array of tuples: %v", name, err)
		}
		return append(wrapped.Tuples, wrapped.TupleKeys...), nil
	}
	return nil, fmt.Errorf("%s: tuple files are .json, .yaml, .yml or .csv", name)
}

func parseCSV(name string, data []byte) ([]Tuple, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: no CSV header: %v", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"user_type", "user_id", "relation", "object_type", "object_id"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s: the CSV header has no %s column (the fga CLI writes user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context)", name, need)
		}
	}
	get := func(rec []string, c string) string {
		if i, ok := col[c]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []Tuple
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		t := Tuple{
			User:     get(rec, "user_type") + ":" + get(rec, "user_id"),
			Relation: get(rec, "relation"),
			Object:   get(rec, "object_type") + ":" + get(rec, "object_id"),
		}
		if ur := get(rec, "user_relation"); ur != "" {
			t.User += "#" + ur
		}
		if cn := get(rec, "condition_name"); cn != "" {
			t.Condition = &TupleCondition{Name: cn}
			if cc := get(rec, "condition_context"); cc != "" {
				if err := json.Unmarshal([]byte(cc), &t.Condition.Context); err != nil {
					return nil, fmt.Errorf("%s line %d: condition_context is not a JSON object: %v", name, line, err)
				}
			}
		}
		out = append(out, t)
	}
}

// Relationship translates a tuple with the model's translation: the relation becomes
// the one its direct tuples are stored under, and the tuple must be one the model
// allows to be written.
func (tr *Translation) Relationship(t Tuple) (tuple.Relationship, error) {
	objType, objID, ok := strings.Cut(t.Object, ":")
	if !ok || objType == "" || objID == "" {
		return tuple.Relationship{}, fmt.Errorf("object %q is not TYPE:ID", t.Object)
	}
	key := objType + "#" + t.Relation
	stored, ok := tr.stored[key]
	if !ok {
		return tuple.Relationship{}, fmt.Errorf("%s is not a relation tuples can be written to", key)
	}
	user, userRel, _ := strings.Cut(t.User, "#")
	userType, userID, ok := strings.Cut(user, ":")
	if !ok || userType == "" || userID == "" {
		return tuple.Relationship{}, fmt.Errorf("user %q is not TYPE:ID, TYPE:ID#RELATION or TYPE:*", t.User)
	}
	if !tr.allows(key, userType, userRel, userID == "*", t.Condition) {
		return tuple.Relationship{}, fmt.Errorf("the model does not allow %s on %s (it allows %s)", t.User, key, formatDirect(tr.direct[key]))
	}
	r := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: objType, ID: objID},
		Relation: stored,
		Subject:  tuple.SubjectRef{Type: userType, ID: userID, Relation: userRel},
	}
	if t.Condition != nil {
		r.Caveat = &tuple.Caveat{Name: t.Condition.Name, Context: t.Condition.Context}
	}
	if err := tuple.Validate(r); err != nil {
		return tuple.Relationship{}, err
	}
	return r, nil
}

// allows reports whether a directly related type of key admits the user.
func (tr *Translation) allows(key, userType, userRel string, wildcard bool, cond *TupleCondition) bool {
	condName := ""
	if cond != nil {
		condName = cond.Name
	}
	for _, d := range tr.direct[key] {
		if d.Type != userType || d.Condition != condName {
			continue
		}
		switch {
		case wildcard:
			if d.Wildcard != nil {
				return true
			}
		case d.Wildcard == nil && d.Relation == userRel:
			return true
		}
	}
	return false
}

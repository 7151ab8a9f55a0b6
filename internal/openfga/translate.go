package openfga

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Translation is a model in Pemba's schema language, with what tuples need to follow
// it: the relation each OpenFGA relation stores its directly written tuples under.
type Translation struct {
	Schema string
	// stored maps type#relation to the Pemba relation holding its direct tuples
	// (the same name, or NAME_direct where the OpenFGA relation also computes).
	stored map[string]string
	// direct maps type#relation to what may be written to it.
	direct map[string][]RelationReference
}

// Problems are the parts of a model with no Pemba equivalent, each with where it is.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("%d part(s) of the model have no Pemba equivalent:\n  %s", len(p), strings.Join(p, "\n  "))
}

// ParseModel reads a model file: the DSL (.fga), or the JSON of the OpenFGA API
// (.json, bare or wrapped in "authorization_model").
func ParseModel(name string, data []byte) (*Model, error) {
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		var wrapped struct {
			AuthorizationModel *Model `json:"authorization_model"`
		}
		if err := json.Unmarshal(data, &wrapped); err == nil && wrapped.AuthorizationModel != nil {
			return wrapped.AuthorizationModel, nil
		}
		var m Model
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: not an OpenFGA model in JSON: %v", name, err)
		}
		return &m, nil
	}
	m, err := ParseDSL(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return m, nil
}

// Translate turns a model into a Pemba schema. The schema is compiled before it is
// returned; a model with parts that have no equivalent gives Problems.
func Translate(m *Model) (*Translation, error) {
	tr := &Translation{stored: map[string]string{}, direct: map[string][]RelationReference{}}
	var probs Problems
	if m.SchemaVersion != "1.1" && m.SchemaVersion != "1.2" {
		probs = append(probs, fmt.Sprintf("schema %q: only schema 1.1 models carry the type restrictions a Pemba schema needs", m.SchemaVersion))
	}
	name := func(where, n string) {
		if !tuple.IsIdentifier(n) {
			probs = append(probs, fmt.Sprintf("%s %q: Pemba names are 3 to 64 characters of a-z, 0-9 and _, starting with a letter", where, n))
		}
	}
	types := map[string]*TypeDefinition{}
	for i := range m.TypeDefinitions {
		td := &m.TypeDefinitions[i]
		name("type", td.Type)
		if _, dup := types[td.Type]; dup {
			probs = append(probs, fmt.Sprintf("type %s is defined twice", td.Type))
		}
		types[td.Type] = td
	}
	var b strings.Builder
	b.WriteString("// Translated from an OpenFGA model by pemba schema import-openfga.\n")
	for _, cname := range sortedKeys(m.Conditions) {
		c := m.Conditions[cname]
		name("condition", cname)
		var params []string
		order := c.order
		if len(order) != len(c.Parameters) {
			order = sortedKeys(c.Parameters)
		}
		for _, p := range order {
			t, err := paramType(c.Parameters[p])
			if err != nil {
				probs = append(probs, fmt.Sprintf("condition %s parameter %s: %v", cname, p, err))
				continue
			}
			params = append(params, p+" "+t)
		}
		fmt.Fprintf(&b, "\ncaveat %s(%s) {\n\t%s\n}\n", cname, strings.Join(params, ", "), strings.TrimSpace(c.Expression))
	}
	for _, td := range m.TypeDefinitions {
		fmt.Fprintf(&b, "\ndefinition %s {", td.Type)
		rels := td.relationOrder()
		if len(rels) == 0 {
			b.WriteString("}\n")
			continue
		}
		b.WriteString("\n")
		for _, r := range rels {
			name("relation "+td.Type+"#", r)
			rw := td.Relations[r]
			var direct []RelationReference
			if td.Metadata != nil {
				direct = td.Metadata.Relations[r].DirectlyRelatedUserTypes
			}
			key := td.Type + "#" + r
			hasThis := containsThis(rw)
			if hasThis && len(direct) == 0 {
				probs = append(probs, fmt.Sprintf("relation %s: directly assignable but names no type", key))
			}
			if !hasThis && len(direct) > 0 {
				probs = append(probs, fmt.Sprintf("relation %s: lists directly related types but its definition does not use them", key))
			}
			for _, d := range direct {
				if _, ok := types[d.Type]; !ok {
					probs = append(probs, fmt.Sprintf("relation %s: type %s is not defined", key, d.Type))
				}
				if d.Condition != "" {
					if _, ok := m.Conditions[d.Condition]; !ok {
						probs = append(probs, fmt.Sprintf("relation %s: condition %s is not defined", key, d.Condition))
					}
				}
			}
			if hasThis {
				tr.direct[key] = direct
				stored := r
				if rw.This == nil {
					stored = freeName(&td, r+"_direct")
				}
				tr.stored[key] = stored
				fmt.Fprintf(&b, "\trelation %s: %s\n", stored, formatDirect(direct))
				if rw.This != nil {
					continue
				}
			}
			expr, err := tr.expr(td, rw, key)
			if err != nil {
				probs = append(probs, fmt.Sprintf("relation %s: %v", key, err))
				continue
			}
			fmt.Fprintf(&b, "\tpermission %s = %s\n", r, expr)
		}
		b.WriteString("}\n")
	}
	if len(probs) > 0 {
		return nil, probs
	}
	tr.Schema = b.String()
	if _, err := schema.Compile("translated.zed", tr.Schema); err != nil {
		return nil, Problems{fmt.Sprintf("the translation does not compile as a Pemba schema: %v", err)}
	}
	return tr, nil
}

// expr is a rewrite in Pemba's expression syntax.
func (tr *Translation) expr(td TypeDefinition, u Userset, key string) (string, error) {
	switch {
	case u.This != nil:
		return tr.stored[key], nil
	case u.ComputedUserset != nil:
		r := u.ComputedUserset.Relation
		if _, ok := td.Relations[r]; !ok {
			return "", fmt.Errorf("names %s, which type %s does not define", r, td.Type)
		}
		return r, nil
	case u.TupleToUserset != nil:
		ts := u.TupleToUserset.Tupleset.Relation
		tsRel, ok := td.Relations[ts]
		if !ok {
			return "", fmt.Errorf("follows %s, which type %s does not define", ts, td.Type)
		}
		if !containsThis(tsRel) {
			return "", fmt.Errorf("follows %s, which has no directly written tuples", ts)
		}
		stored := ts
		if tsRel.This == nil {
			stored = freeName(&td, ts+"_direct")
		}
		return stored + "->" + u.TupleToUserset.ComputedUserset.Relation, nil
	case u.Union != nil, u.Intersection != nil:
		op, children := " + ", []Userset(nil)
		if u.Union != nil {
			children = u.Union.Child
		} else {
			op, children = " & ", u.Intersection.Child
		}
		if len(children) == 0 {
			return "", fmt.Errorf("an empty union or intersection")
		}
		parts := make([]string, len(children))
		for i, c := range children {
			s, err := tr.expr(td, c, key)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		if len(parts) == 1 {
			return parts[0], nil
		}
		return "(" + strings.Join(parts, op) + ")", nil
	case u.Difference != nil:
		base, err := tr.expr(td, u.Difference.Base, key)
		if err != nil {
			return "", err
		}
		sub, err := tr.expr(td, u.Difference.Subtract, key)
		if err != nil {
			return "", err
		}
		return "(" + base + " - " + sub + ")", nil
	}
	return "", fmt.Errorf("an empty rewrite")
}

func containsThis(u Userset) bool {
	switch {
	case u.This != nil:
		return true
	case u.Union != nil:
		for _, c := range u.Union.Child {
			if containsThis(c) {
				return true
			}
		}
	case u.Intersection != nil:
		for _, c := range u.Intersection.Child {
			if containsThis(c) {
				return true
			}
		}
	case u.Difference != nil:
		return containsThis(u.Difference.Base) || containsThis(u.Difference.Subtract)
	}
	return false
}

// freeName is want, or want with more underscores-and-digits, so that it names no
// relation of the type.
func freeName(td *TypeDefinition, want string) string {
	n := want
	for i := 2; ; i++ {
		if _, taken := td.Relations[n]; !taken {
			return n
		}
		n = fmt.Sprintf("%s%d", want, i)
	}
}

func formatDirect(refs []RelationReference) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		s := r.Type
		switch {
		case r.Wildcard != nil:
			s += ":*"
		case r.Relation != "":
			s += "#" + r.Relation
		}
		if r.Condition != "" {
			s += " with " + r.Condition
		}
		parts[i] = s
	}
	return strings.Join(parts, " | ")
}

var pembaParamTypes = map[string]string{
	"TYPE_NAME_ANY": "any", "TYPE_NAME_BOOL": "bool", "TYPE_NAME_STRING": "string",
	"TYPE_NAME_INT": "int", "TYPE_NAME_UINT": "uint", "TYPE_NAME_DOUBLE": "double",
	"TYPE_NAME_DURATION": "duration", "TYPE_NAME_TIMESTAMP": "timestamp",
	"TYPE_NAME_IPADDRESS": "ipaddress", "TYPE_NAME_MAP": "map", "TYPE_NAME_LIST": "list",
}

func paramType(p ParamTypeRef) (string, error) {
	t, ok := pembaParamTypes[p.TypeName]
	if !ok {
		return "", fmt.Errorf("type %q has no Pemba equivalent", p.TypeName)
	}
	if t == "map" || t == "list" {
		if len(p.GenericTypes) != 1 {
			return "", fmt.Errorf("%s needs one type argument", t)
		}
		inner, err := paramType(p.GenericTypes[0])
		if err != nil {
			return "", err
		}
		return t + "<" + inner + ">", nil
	}
	return t, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

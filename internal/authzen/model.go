package authzen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Entity is an AuthZEN subject or resource.
type Entity struct {
	Type       string         `json:"type"`
	ID         string         `json:"id,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Action is an AuthZEN action.
type Action struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Decision is the answer to one evaluation.
type Decision struct {
	Decision bool           `json:"decision"`
	Context  map[string]any `json:"context,omitempty"`
}

// evaluationRequest is the body of the evaluation endpoint and one item of the
// evaluations endpoint. Pointers tell an absent entity from an empty one.
type evaluationRequest struct {
	Subject  *Entity        `json:"subject"`
	Action   *Action        `json:"action"`
	Resource *Entity        `json:"resource"`
	Context  map[string]any `json:"context"`
}

// evaluationsRequest is the body of the evaluations endpoint: defaults at the top
// level, the evaluations, and the options.
type evaluationsRequest struct {
	evaluationRequest
	Evaluations []evaluationRequest `json:"evaluations"`
	Options     map[string]any      `json:"options"`
}

type evaluationsResponse struct {
	Evaluations []Decision `json:"evaluations"`
}

// pageRequest is the page object of a search request.
type pageRequest struct {
	Token      string         `json:"token,omitempty"`
	Limit      *int64         `json:"limit,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// searchRequest is the body of the three search endpoints.
type searchRequest struct {
	Subject  *Entity        `json:"subject"`
	Action   *Action        `json:"action"`
	Resource *Entity        `json:"resource"`
	Context  map[string]any `json:"context"`
	Page     *pageRequest   `json:"page"`
}

// pageResponse is the page object of a search response. Count is always given;
// a total is not, since knowing it would mean computing every page.
type pageResponse struct {
	NextToken string `json:"next_token"`
	Count     int    `json:"count"`
}

type searchResponse struct {
	Page    *pageResponse `json:"page,omitempty"`
	Results []any         `json:"results"`
}

// relationProperty is the subject property that names a subject set's relation.
const relationProperty = "relation"

// validateEntity checks that an entity carries a type and, when needID, an id.
func validateEntity(what string, e *Entity, needID bool) error {
	if e == nil {
		return fmt.Errorf("%s is required", what)
	}
	if e.Type == "" {
		return fmt.Errorf("%s.type is required", what)
	}
	if err := tuple.ValidateTypeName(what+".type", e.Type); err != nil {
		return fmt.Errorf("%v (a Pemba object type from the schema)", err)
	}
	if needID && e.ID == "" {
		return fmt.Errorf("%s.id is required", what)
	}
	return nil
}

func validateAction(a *Action) error {
	if a == nil {
		return fmt.Errorf("action is required")
	}
	if a.Name == "" {
		return fmt.Errorf("action.name is required")
	}
	if err := tuple.ValidateRelationName("action.name", a.Name); err != nil {
		return fmt.Errorf("%v (an action is a permission or relation of the schema)", err)
	}
	return nil
}

// subjectRelation reads the optional subject-set relation of a subject.
func subjectRelation(e *Entity) (string, error) {
	v, ok := e.Properties[relationProperty]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("subject.properties.relation must be a non-empty string")
	}
	return s, nil
}

// caveatContext merges the request context with the properties of its subject,
// resource and action into the one context a caveat sees. The same key may appear in
// more than one place only with equal values.
func caveatContext(r *evaluationRequest) (map[string]any, error) {
	out := map[string]any{}
	from := map[string]string{}
	add := func(where string, m map[string]any, skip string) error {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == skip {
				continue
			}
			v := m[k]
			if old, ok := out[k]; ok && !reflect.DeepEqual(old, v) {
				return fmt.Errorf("context key %q is given in %s and in %s with different values", k, from[k], where)
			}
			out[k], from[k] = v, where
		}
		return nil
	}
	if err := add("context", r.Context, ""); err != nil {
		return nil, err
	}
	if r.Subject != nil {
		if err := add("subject.properties", r.Subject.Properties, relationProperty); err != nil {
			return nil, err
		}
	}
	if r.Resource != nil {
		if err := add("resource.properties", r.Resource.Properties, ""); err != nil {
			return nil, err
		}
	}
	if r.Action != nil {
		if err := add("action.properties", r.Action.Properties, ""); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// checkDepth refuses JSON nested deeper than max levels, before it is decoded.
func checkDepth(body []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return fmt.Errorf("the request body nests deeper than %d levels", max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// decodeBody decodes a request body into v: one JSON object, unknown fields ignored
// as the specification requires, nothing after it.
func decodeBody(body []byte, v any) error {
	if err := checkDepth(body, maxDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the request body is not a valid JSON object of this endpoint: %v", err)
	}
	if dec.More() {
		return fmt.Errorf("the request body holds more than one JSON value")
	}
	return nil
}

// Pemba object ids use a-z A-Z 0-9 and / _ | - = +; AuthZEN ids are any string (the
// specification's own examples are e-mail addresses and file names). An AuthZEN id
// maps to a Pemba id by writing each byte outside that alphabet, and '=' itself, as
// '=' and two upper-case hex digits: alice@example.com is alice=40example=2Ecom. The
// mapping is one to one, and ids that need no escaping map to themselves. The lone
// wildcard "*" stays as it is.

// pembaID maps an AuthZEN id to a Pemba id.
func pembaID(id string) string {
	if id == "*" {
		return id
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if plainIDByte(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// authzenID maps a Pemba id back. An id not written through this mapping (a '=' not
// followed by two hex digits) comes back unchanged.
func authzenID(id string) string {
	if !strings.Contains(id, "=") {
		return id
	}
	out := make([]byte, 0, len(id))
	for i := 0; i < len(id); i++ {
		if id[i] != '=' {
			out = append(out, id[i])
			continue
		}
		if i+2 >= len(id) {
			return id
		}
		v, err := strconv.ParseUint(id[i+1:i+3], 16, 8)
		if err != nil || strings.ToUpper(id[i+1:i+3]) != id[i+1:i+3] {
			return id
		}
		out = append(out, byte(v))
		i += 2
	}
	return string(out)
}

func plainIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '/' || c == '_' || c == '|' || c == '-' || c == '+'
}

package scim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/internal/scim/filter"
)

// PatchOp is one operation of a PATCH request (RFC 7644 §3.5.2), its op lower-cased
// (Entra ID sends "Replace" and "Add").
type PatchOp struct {
	Op    string
	Path  string
	Value any
}

// ParsePatch reads a PatchOp request body, with at most maxOps operations.
func ParsePatch(body []byte, maxOps int) ([]PatchOp, error) {
	var req struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		} `json:"Operations"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, Errorf(http.StatusBadRequest, "invalidSyntax", "the PATCH body is not a PatchOp message: %v", err)
	}
	if !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, PatchOpSchema) }) {
		return nil, Errorf(http.StatusBadRequest, "invalidSyntax", "schemas must contain %s", PatchOpSchema)
	}
	if len(req.Operations) == 0 {
		return nil, Errorf(http.StatusBadRequest, "invalidSyntax", "Operations is empty")
	}
	if len(req.Operations) > maxOps {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "tooMany", "%d operations, more than the %d one PATCH may carry", len(req.Operations), maxOps)
	}
	out := make([]PatchOp, len(req.Operations))
	for i, o := range req.Operations {
		op := strings.ToLower(o.Op)
		switch op {
		case "add", "replace", "remove":
		default:
			return nil, Errorf(http.StatusBadRequest, "invalidSyntax", "operation %d: op %q is not add, replace or remove", i, o.Op)
		}
		if op == "remove" && o.Path == "" {
			return nil, Errorf(http.StatusBadRequest, "noTarget", "operation %d: remove needs a path", i)
		}
		if op != "remove" && o.Value == nil {
			return nil, Errorf(http.StatusBadRequest, "invalidValue", "operation %d: %s needs a value", i, op)
		}
		out[i] = PatchOp{Op: op, Path: o.Path, Value: o.Value}
	}
	return out, nil
}

// Apply applies PATCH operations to a stored resource (as Normalize returned it, with
// members for a Group) whose id is id. A path naming id or meta is a mutability error.
// Adding a member or value already present, or removing one absent, changes nothing.
func (rt *ResourceType) Apply(r Resource, id string, ops []PatchOp) error {
	for _, op := range ops {
		if err := rt.apply(r, id, op); err != nil {
			return err
		}
	}
	return nil
}

func (rt *ResourceType) apply(r Resource, id string, op PatchOp) error {
	if op.Path == "" {
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return invalidValue("an %s without a path needs an object value", op.Op)
		}
		if err := CheckImmutable(obj, id); err != nil {
			return err
		}
		for k, v := range obj {
			if strings.EqualFold(k, "id") || strings.EqualFold(k, "meta") || strings.EqualFold(k, "schemas") {
				continue
			}
			if ext := rt.extension(k); ext != "" {
				sub, ok := v.(map[string]any)
				if !ok {
					return invalidValue("%s must be an object", ext)
				}
				for sk, sv := range sub {
					if err := rt.apply(r, id, PatchOp{Op: op.Op, Path: ext + ":" + sk, Value: sv}); err != nil {
						return err
					}
				}
				continue
			}
			if err := rt.apply(r, id, PatchOp{Op: op.Op, Path: k, Value: v}); err != nil {
				return err
			}
		}
		return nil
	}
	p, err := filter.ParsePath(op.Path)
	if err != nil {
		return Errorf(http.StatusBadRequest, "invalidPath", "path %q: %v", op.Path, err)
	}
	name := p.Attr.Name
	if strings.EqualFold(name, "id") || strings.EqualFold(name, "meta") || strings.EqualFold(name, "schemas") {
		return mutability("%s is read-only", op.Path)
	}
	uri := p.Attr.URI
	if uri != "" && !strings.EqualFold(uri, rt.Schema) && rt.extension(uri) == "" {
		return Errorf(http.StatusBadRequest, "invalidPath", "path %q: schema %s is not one of %s's", op.Path, uri, rt.Name)
	}
	a := rt.Lookup(uri, name, "")
	if a != nil && (a.Mutability == "readOnly") {
		return mutability("%s is read-only", op.Path)
	}
	obj := base(r, extURI(rt, uri), true)
	canon := name
	if a != nil {
		canon = a.Name
	}
	if k, ok := keyOf(obj, canon); ok && k != canon {
		obj[canon] = obj[k]
		delete(obj, k)
	}
	if p.Filter != nil {
		return rt.applyFiltered(obj, canon, a, p, op)
	}
	if p.Attr.Sub != "" {
		var sa *Attr
		if a != nil {
			sa = find(a.Sub, p.Attr.Sub)
		}
		sub, _ := obj[canon].(map[string]any)
		if sub == nil {
			if op.Op == "remove" {
				return nil
			}
			sub = map[string]any{}
			obj[canon] = sub
		}
		sname := p.Attr.Sub
		if sa != nil {
			sname = sa.Name
		}
		if op.Op == "remove" {
			delete(sub, sname)
			return nil
		}
		v := op.Value
		if sa != nil {
			if v, err = normalizeValue(*sa, v, op.Path); err != nil {
				return err
			}
		}
		sub[sname] = v
		return nil
	}
	var v any = op.Value
	if a != nil && op.Value != nil {
		if v, err = normalizeValue(*a, op.Value, op.Path); err != nil {
			return err
		}
	}
	isMulti := a != nil && a.Multi
	switch op.Op {
	case "remove":
		if isMulti && op.Value != nil {
			// Entra ID removes members by a value list: {"path":"members","value":[{"value":"ID"}]}.
			drop, _ := v.([]any)
			cur, _ := obj[canon].([]any)
			obj[canon] = slices.DeleteFunc(slices.Clone(cur), func(el any) bool {
				return slices.ContainsFunc(drop, func(d any) bool { return sameValue(el, d) })
			})
			return nil
		}
		delete(obj, canon)
	case "add":
		if isMulti {
			cur, _ := obj[canon].([]any)
			for _, nv := range v.([]any) {
				if !slices.ContainsFunc(cur, func(el any) bool { return sameValue(el, nv) }) {
					cur = append(cur, nv)
				}
			}
			obj[canon] = cur
			return nil
		}
		if m, ok := v.(map[string]any); ok {
			if cur, ok := obj[canon].(map[string]any); ok {
				for mk, mv := range m {
					cur[mk] = mv
				}
				return nil
			}
		}
		obj[canon] = v
	case "replace":
		if m, ok := v.(map[string]any); ok && !isMulti {
			if cur, ok := obj[canon].(map[string]any); ok {
				for mk, mv := range m {
					cur[mk] = mv
				}
				return nil
			}
		}
		obj[canon] = v
	}
	return nil
}

func extURI(rt *ResourceType, uri string) string {
	if uri == "" || strings.EqualFold(uri, rt.Schema) {
		return ""
	}
	return rt.extension(uri)
}

// sameValue reports whether two elements of a multi-valued attribute are the same:
// equal "value" members when both have one, else equal JSON.
func sameValue(a, b any) bool {
	ao, aok := a.(map[string]any)
	bo, bok := b.(map[string]any)
	if aok && bok {
		av, ah := ao["value"]
		bv, bh := bo["value"]
		if ah && bh {
			return av == bv
		}
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// applyFiltered applies an operation whose path selects elements of a multi-valued
// attribute: `members[value eq "ID"]`, `emails[type eq "work"].value`.
func (rt *ResourceType) applyFiltered(obj map[string]any, canon string, a *Attr, p filter.Path, op PatchOp) error {
	cur, _ := obj[canon].([]any)
	m := filter.Matcher{}
	matched := false
	var out []any
	for _, el := range cur {
		e, ok := el.(map[string]any)
		if !ok || !m.Match(p.Filter, e) {
			out = append(out, el)
			continue
		}
		matched = true
		switch {
		case op.Op == "remove" && p.Sub == "":
			continue // drop the element
		case op.Op == "remove":
			delete(e, p.Sub)
		case p.Sub != "":
			e[subName(a, p.Sub)] = coerceSub(a, p.Sub, op.Value)
		default:
			if nv, ok := op.Value.(map[string]any); ok {
				for k, v := range nv {
					e[subName(a, k)] = coerceSub(a, k, v)
				}
			}
		}
		out = append(out, e)
	}
	if !matched && op.Op != "remove" {
		// Entra ID adds a work email as `emails[type eq "work"].value`: build the
		// element the filter describes.
		el := elementFromFilter(p.Filter)
		if el == nil {
			return Errorf(http.StatusBadRequest, "noTarget", "path %q matches no element, and its filter does not describe one to add", op.Path)
		}
		if p.Sub != "" {
			el[subName(a, p.Sub)] = coerceSub(a, p.Sub, op.Value)
		} else if nv, ok := op.Value.(map[string]any); ok {
			for k, v := range nv {
				el[subName(a, k)] = coerceSub(a, k, v)
			}
		}
		out = append(out, el)
	}
	if len(out) == 0 {
		delete(obj, canon)
		return nil
	}
	obj[canon] = out
	return nil
}

func subName(a *Attr, name string) string {
	if a != nil {
		if s := find(a.Sub, name); s != nil {
			return s.Name
		}
	}
	return name
}

func coerceSub(a *Attr, name string, v any) any {
	if a == nil {
		return v
	}
	if s := find(a.Sub, name); s != nil {
		if n, err := normalizeValue(*s, v, name); err == nil {
			return n
		}
	}
	return v
}

// elementFromFilter builds the element an equality filter (or an "and" of them)
// describes, or nil.
func elementFromFilter(e filter.Expr) map[string]any {
	switch e := e.(type) {
	case *filter.Compare:
		if e.Op != filter.OpEq || e.Path.Sub != "" || e.Path.URI != "" {
			return nil
		}
		var v any
		switch e.Value.Kind {
		case filter.KindString:
			v = e.Value.Str
		case filter.KindBool:
			v = e.Value.Bool
		case filter.KindNumber:
			v = e.Value.Num
		default:
			return nil
		}
		return map[string]any{e.Path.Name: v}
	case *filter.Logical:
		if !e.And {
			return nil
		}
		l, r := elementFromFilter(e.Left), elementFromFilter(e.Right)
		if l == nil || r == nil {
			return nil
		}
		for k, v := range r {
			l[k] = v
		}
		return l
	}
	return nil
}

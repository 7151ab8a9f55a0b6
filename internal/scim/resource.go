package scim

import (
	"maps"
	"strings"
)

// Resource is a SCIM resource as JSON: objects map[string]any, arrays []any.
type Resource = map[string]any

// Bounds of one resource's strings.
const (
	MaxUserName    = 256
	MaxExternalID  = 256
	MaxDisplayName = 256
)

// Normalize brings a client's resource into the form Pemba stores: attribute names
// spelled as the schema spells them, booleans sent as the strings "True" and
// "False" (Entra ID does) as booleans, and the read-only and write-only attributes
// (id, meta, schemas, groups, password) dropped; an id or meta that disagrees with
// the stored one is the caller's to refuse first (CheckImmutable).
func (rt *ResourceType) Normalize(in Resource) (Resource, error) {
	out := Resource{}
	for k, v := range in {
		if ext := rt.extension(k); ext != "" {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, invalidValue("%s must be an object", ext)
			}
			n, err := normalizeObject(rt.Extensions[ext], obj, ext)
			if err != nil {
				return nil, err
			}
			out[ext] = n
			continue
		}
		if strings.EqualFold(k, "schemas") || strings.EqualFold(k, "meta") || strings.EqualFold(k, "id") {
			continue
		}
		a := find(rt.Attrs, k)
		if a == nil {
			out[k] = v // an attribute Pemba does not know is kept as sent
			continue
		}
		if a.Mutability == "readOnly" || a.Mutability == "writeOnly" {
			continue
		}
		nv, err := normalizeValue(*a, v, a.Name)
		if err != nil {
			return nil, err
		}
		if nv != nil {
			out[a.Name] = nv
		}
	}
	return out, nil
}

func normalizeObject(attrs []Attr, obj map[string]any, where string) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range obj {
		a := find(attrs, k)
		if a == nil {
			out[k] = v
			continue
		}
		nv, err := normalizeValue(*a, v, where+"."+a.Name)
		if err != nil {
			return nil, err
		}
		if nv != nil {
			out[a.Name] = nv
		}
	}
	return out, nil
}

func normalizeValue(a Attr, v any, where string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.Multi {
		arr, ok := v.([]any)
		if !ok {
			arr = []any{v}
		}
		out := make([]any, 0, len(arr))
		for _, el := range arr {
			one := a
			one.Multi = false
			n, err := normalizeValue(one, el, where)
			if err != nil {
				return nil, err
			}
			if n != nil {
				out = append(out, n)
			}
		}
		return out, nil
	}
	switch a.Type {
	case "boolean":
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			switch strings.ToLower(b) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, invalidValue("%s must be a boolean, not %v", where, v)
	case "complex":
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, invalidValue("%s must be an object", where)
		}
		return normalizeObject(a.Sub, obj, where)
	case "string", "reference", "dateTime":
		if _, ok := v.(string); !ok {
			return nil, invalidValue("%s must be a string, not %v", where, v)
		}
	}
	return v, nil
}

// CheckImmutable refuses a body whose id or meta would change the stored ones
// (RFC 7643 §2.2 mutability): an id equal to the resource's own is accepted, since
// Okta repeats it.
func CheckImmutable(in Resource, id string) error {
	for k, v := range in {
		switch strings.ToLower(k) {
		case "id":
			if s, ok := v.(string); !ok || s != id {
				return mutability("id is read-only: the resource's id is %q", id)
			}
		case "meta":
			if _, ok := v.(map[string]any); !ok {
				return mutability("meta is read-only")
			}
		}
	}
	return nil
}

// Project applies the attributes and excludedAttributes parameters (RFC 7644
// §3.4.2.5) to a rendered resource: id and schemas are always returned.
func Project(r Resource, attributes, excluded []string) Resource {
	if len(attributes) == 0 && len(excluded) == 0 {
		return r
	}
	if len(attributes) > 0 {
		out := Resource{"id": r["id"], "schemas": r["schemas"]}
		for _, p := range attributes {
			copyPath(out, r, p)
		}
		return out
	}
	out := maps.Clone(r)
	for _, p := range excluded {
		removePath(out, p)
	}
	out["id"] = r["id"]
	return out
}

// splitPath splits "urn:...:User:name.givenName" into (urn, name, sub).
func splitPath(p string) (uri, name, sub string) {
	if i := strings.LastIndexByte(p, ':'); i >= 0 {
		uri, p = p[:i], p[i+1:]
	}
	name, sub, _ = strings.Cut(p, ".")
	return uri, name, sub
}

func base(r Resource, uri string, create bool) map[string]any {
	if uri == "" || strings.EqualFold(uri, UserSchema) || strings.EqualFold(uri, GroupSchema) {
		return r
	}
	for k, v := range r {
		if strings.EqualFold(k, uri) {
			if obj, ok := v.(map[string]any); ok {
				return obj
			}
		}
	}
	if !create {
		return nil
	}
	obj := map[string]any{}
	r[uri] = obj
	return obj
}

func keyOf(obj map[string]any, name string) (string, bool) {
	if _, ok := obj[name]; ok {
		return name, true
	}
	for k := range obj {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

func copyPath(dst, src Resource, p string) {
	uri, name, sub := splitPath(p)
	if uri == "" && strings.Contains(p, ":") {
		return
	}
	if uri != "" && name == "" {
		return
	}
	from := base(src, uri, false)
	if from == nil {
		// the whole extension: "urn:...:enterprise:2.0:User"
		if v, ok := src[p]; ok {
			dst[p] = v
		}
		return
	}
	k, ok := keyOf(from, name)
	if !ok {
		if v, ok := src[p]; ok {
			dst[p] = v
		}
		return
	}
	to := dst
	if uri != "" && !strings.EqualFold(uri, UserSchema) && !strings.EqualFold(uri, GroupSchema) {
		to = base(dst, uri, true)
	}
	if sub == "" {
		to[k] = from[k]
		return
	}
	switch v := from[k].(type) {
	case map[string]any:
		if sk, ok := keyOf(v, sub); ok {
			o, _ := to[k].(map[string]any)
			if o == nil {
				o = map[string]any{}
				to[k] = o
			}
			o[sk] = v[sk]
		}
	case []any:
		var out []any
		for _, el := range v {
			if obj, ok := el.(map[string]any); ok {
				if sk, ok := keyOf(obj, sub); ok {
					out = append(out, map[string]any{sk: obj[sk]})
				}
			}
		}
		to[k] = out
	}
}

func removePath(r Resource, p string) {
	uri, name, sub := splitPath(p)
	from := base(r, uri, false)
	if from == nil {
		delete(r, p)
		return
	}
	k, ok := keyOf(from, name)
	if !ok {
		return
	}
	if sub == "" {
		delete(from, k)
		return
	}
	if obj, ok := from[k].(map[string]any); ok {
		c := maps.Clone(obj)
		if sk, ok := keyOf(c, sub); ok {
			delete(c, sk)
		}
		from[k] = c
	}
}

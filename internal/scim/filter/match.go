package filter

import (
	"strings"
	"time"
)

// Resource is a SCIM resource as decoded JSON: objects are map[string]any, arrays
// []any, numbers float64.
type Resource = map[string]any

// Matcher evaluates filters against resources of one schema.
type Matcher struct {
	// CoreSchema is the URN of the resources' core schema; attributes qualified with
	// it are looked up at the top level, and others under their extension's object.
	CoreSchema string
	// CaseExact reports whether an attribute's strings compare case-sensitively
	// (RFC 7643 "caseExact"); nil means none does.
	CaseExact func(AttrPath) bool
}

// Match reports whether the resource satisfies the filter.
func (m Matcher) Match(e Expr, r Resource) bool {
	switch e := e.(type) {
	case *Logical:
		if e.And {
			return m.Match(e.Left, r) && m.Match(e.Right, r)
		}
		return m.Match(e.Left, r) || m.Match(e.Right, r)
	case *Not:
		return !m.Match(e.X, r)
	case *ValuePath:
		for _, el := range m.Values(r, AttrPath{URI: e.Attr.URI, Name: e.Attr.Name}) {
			if obj, ok := el.(map[string]any); ok && m.Match(e.Filter, obj) {
				return true
			}
		}
		return false
	case *Compare:
		vals := m.Values(r, e.Path)
		exact := m.CaseExact != nil && m.CaseExact(e.Path)
		switch e.Op {
		case OpPr:
			for _, v := range vals {
				if present(v) {
					return true
				}
			}
			return false
		case OpNe:
			for _, v := range vals {
				if compare(v, OpEq, e.Value, exact) {
					return false
				}
			}
			return true
		}
		if e.Op == OpEq && e.Value.Kind == KindNull && len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if compare(v, e.Op, e.Value, exact) {
				return true
			}
		}
	}
	return false
}

// Values returns the values a path names in r: the attribute's value, or each
// element of a multi-valued one; with a sub-attribute, that sub-attribute of each.
// Names compare case-insensitively.
func (m Matcher) Values(r Resource, p AttrPath) []any {
	base := r
	if p.URI != "" && !strings.EqualFold(p.URI, m.CoreSchema) {
		ext, ok := Lookup(r, p.URI).(map[string]any)
		if !ok {
			return nil
		}
		base = ext
	}
	v := Lookup(base, p.Name)
	if v == nil {
		return nil
	}
	elems, multi := v.([]any)
	if !multi {
		elems = []any{v}
	}
	if p.Sub == "" {
		return elems
	}
	var out []any
	for _, el := range elems {
		if obj, ok := el.(map[string]any); ok {
			if sv := Lookup(obj, p.Sub); sv != nil {
				out = append(out, sv)
			}
		}
	}
	return out
}

// Lookup returns the member of obj whose name equals name case-insensitively.
func Lookup(obj map[string]any, name string) any {
	if v, ok := obj[name]; ok {
		return v
	}
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// compare applies one operator to one value. Strings that both read as RFC 3339
// timestamps compare as times, so gt/lt on meta.lastModified mean before and after.
func compare(v any, op Op, want Value, exact bool) bool {
	switch want.Kind {
	case KindNull:
		return op == OpEq && v == nil
	case KindBool:
		b, ok := v.(bool)
		return ok && op == OpEq && b == want.Bool
	case KindNumber:
		n, ok := v.(float64)
		if !ok {
			return false
		}
		return ordered(op, cmpFloat(n, want.Num))
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	if t1, err1 := time.Parse(time.RFC3339Nano, s); err1 == nil {
		if t2, err2 := time.Parse(time.RFC3339Nano, want.Str); err2 == nil {
			switch op {
			case OpEq, OpGt, OpGe, OpLt, OpLe:
				return ordered(op, t1.Compare(t2))
			}
		}
	}
	w := want.Str
	if !exact {
		s, w = strings.ToLower(s), strings.ToLower(w)
	}
	switch op {
	case OpCo:
		return strings.Contains(s, w)
	case OpSw:
		return strings.HasPrefix(s, w)
	case OpEw:
		return strings.HasSuffix(s, w)
	}
	return ordered(op, strings.Compare(s, w))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ordered applies an equality or ordering operator to a comparison result.
func ordered(op Op, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	}
	return false
}

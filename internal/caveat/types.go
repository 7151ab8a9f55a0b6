package caveat

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// paramType is a parsed parameter type: its CEL type and how to turn a JSON-ish value
// into a value of that type.
type paramType struct {
	name string // as written, normalised
	cel  *cel.Type
	elem *paramType // list and map element type
	conv func(v any) (any, error)
}

// baseTypes are the parameter types without type arguments.
var baseTypes = map[string]func() *paramType{
	"any":      func() *paramType { return &paramType{name: "any", cel: cel.DynType, conv: convertAny} },
	"bool":     func() *paramType { return &paramType{name: "bool", cel: cel.BoolType, conv: convertBool} },
	"string":   func() *paramType { return &paramType{name: "string", cel: cel.StringType, conv: convertString} },
	"int":      func() *paramType { return &paramType{name: "int", cel: cel.IntType, conv: convertInt} },
	"uint":     func() *paramType { return &paramType{name: "uint", cel: cel.IntType, conv: convertUint} },
	"double":   func() *paramType { return &paramType{name: "double", cel: cel.DoubleType, conv: convertDouble} },
	"bytes":    func() *paramType { return &paramType{name: "bytes", cel: cel.BytesType, conv: convertBytes} },
	"duration": func() *paramType { return &paramType{name: "duration", cel: cel.DurationType, conv: convertDuration} },
	"timestamp": func() *paramType {
		return &paramType{name: "timestamp", cel: cel.TimestampType, conv: convertTimestamp}
	},
	"ipaddress": func() *paramType { return &paramType{name: "ipaddress", cel: ipAddressCELType, conv: convertIP} },
}

// TypeNames lists the parameter type names, for error messages and documentation.
var TypeNames = []string{"any", "bool", "string", "int", "uint", "double", "bytes", "duration", "timestamp", "ipaddress", "list<T>", "map<T>"}

// CheckType reports whether t is a valid parameter type, with an error naming the
// problem ("unknown type `strng`", "list takes one type argument").
func CheckType(t string) error {
	_, err := parseType(t)
	return err
}

// parseType parses "int", "list<string>", "map<list<int>>" (spaces ignored).
func parseType(t string) (*paramType, error) {
	s := strings.ReplaceAll(t, " ", "")
	pt, rest, err := parseTypeAt(s, 0)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected %q after type `%s`", rest, pt.name)
	}
	return pt, nil
}

func parseTypeAt(s string, depth int) (*paramType, string, error) {
	if depth > 100 {
		return nil, "", fmt.Errorf("type is nested too deeply")
	}
	i := 0
	for i < len(s) && s[i] != '<' && s[i] != '>' && s[i] != ',' {
		i++
	}
	name, rest := s[:i], s[i:]
	if name == "" {
		return nil, "", fmt.Errorf("missing type name")
	}
	if name == "list" || name == "map" {
		if !strings.HasPrefix(rest, "<") {
			return nil, "", fmt.Errorf("type `%s` needs one type argument, for example `%s<string>`", name, name)
		}
		elem, after, err := parseTypeAt(rest[1:], depth+1)
		if err != nil {
			return nil, "", err
		}
		if strings.HasPrefix(after, ",") {
			if name == "map" {
				return nil, "", fmt.Errorf("type `map` takes one type argument, the value type (keys are always strings): write `map<%s>`", strings.TrimSuffix(strings.SplitN(after[1:], ">", 2)[0], ">"))
			}
			return nil, "", fmt.Errorf("type `list` takes one type argument")
		}
		if !strings.HasPrefix(after, ">") {
			return nil, "", fmt.Errorf("missing `>` after the type argument of `%s`", name)
		}
		if name == "list" {
			return listType(elem), after[1:], nil
		}
		return mapType(elem), after[1:], nil
	}
	mk, ok := baseTypes[name]
	if !ok {
		return nil, "", fmt.Errorf("unknown parameter type `%s`%s (types: %s)", name, suggestType(name), strings.Join(TypeNames, ", "))
	}
	if strings.HasPrefix(rest, "<") {
		return nil, "", fmt.Errorf("type `%s` takes no type arguments", name)
	}
	return mk(), rest, nil
}

func suggestType(name string) string {
	low := strings.ToLower(name)
	for _, n := range []string{"any", "bool", "string", "int", "uint", "double", "bytes", "duration", "timestamp", "ipaddress", "list", "map"} {
		if low == n || close1(low, n) {
			return fmt.Sprintf(" (did you mean `%s`?)", n)
		}
	}
	return ""
}

// close1 reports whether a and b differ by at most one edit.
func close1(a, b string) bool {
	if a == b {
		return true
	}
	la, lb := len(a), len(b)
	if la-lb > 1 || lb-la > 1 {
		return false
	}
	i := 0
	for i < la && i < lb && a[i] == b[i] {
		i++
	}
	switch {
	case la == lb:
		return a[i+1:] == b[i+1:]
	case la > lb:
		return a[i+1:] == b[i:]
	default:
		return a[i:] == b[i+1:]
	}
}

func listType(elem *paramType) *paramType {
	return &paramType{
		name: "list<" + elem.name + ">",
		cel:  cel.ListType(elem.cel),
		elem: elem,
		conv: func(v any) (any, error) {
			items, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("expected a list, found %s", describe(v))
			}
			out := make([]any, len(items))
			for i, item := range items {
				c, err := elem.conv(item)
				if err != nil {
					return nil, fmt.Errorf("item %d: %w", i, err)
				}
				out[i] = c
			}
			return out, nil
		},
	}
}

func mapType(elem *paramType) *paramType {
	return &paramType{
		name: "map<" + elem.name + ">",
		cel:  cel.MapType(cel.StringType, elem.cel),
		elem: elem,
		conv: func(v any) (any, error) {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("expected an object (map), found %s", describe(v))
			}
			out := make(map[string]any, len(m))
			for k, item := range m {
				c, err := elem.conv(item)
				if err != nil {
					return nil, fmt.Errorf("key %q: %w", k, err)
				}
				out[k] = c
			}
			return out, nil
		},
	}
}

// describe names a value's JSON kind for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", truncate(x))
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a value of Go type %T", v)
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// convertAny keeps the value but turns json.Number into int64 or float64, recursively,
// so CEL sees ordinary numbers.
func convertAny(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("invalid number %q", x.String())
		}
		return f, nil
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			c, err := convertAny(item)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			c, err := convertAny(item)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return v, nil
}

func convertBool(v any) (any, error) {
	b, ok := v.(bool)
	if !ok {
		return nil, fmt.Errorf("expected a boolean, found %s", describe(v))
	}
	return b, nil
}

func convertString(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("expected a string, found %s", describe(v))
	}
	return s, nil
}

// number reads any numeric representation (and numeric strings) as a float64 and,
// when it is integral, as an exact int64.
func number(v any) (f float64, i int64, isInt bool, err error) {
	switch x := v.(type) {
	case float64:
		return x, int64(x), x == math.Trunc(x) && x >= -9.223372036854775e18 && x < 9.223372036854775e18, nil
	case float32:
		return number(float64(x))
	case int:
		return float64(x), int64(x), true, nil
	case int64:
		return float64(x), x, true, nil
	case int32:
		return float64(x), int64(x), true, nil
	case uint64:
		if x > math.MaxInt64 {
			return float64(x), 0, false, nil
		}
		return float64(x), int64(x), true, nil
	case uint32:
		return float64(x), int64(x), true, nil
	case uint:
		return number(uint64(x))
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return float64(n), n, true, nil
		}
		fl, err := x.Float64()
		if err != nil {
			return 0, 0, false, fmt.Errorf("invalid number %q", x.String())
		}
		return number(fl)
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return float64(n), n, true, nil
		}
		fl, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, 0, false, fmt.Errorf("expected a number, found %s", describe(v))
		}
		return number(fl)
	}
	return 0, 0, false, fmt.Errorf("expected a number, found %s", describe(v))
}

func convertInt(v any) (any, error) {
	_, i, isInt, err := number(v)
	if err != nil {
		return nil, err
	}
	if !isInt {
		return nil, fmt.Errorf("expected an integer, found %s", describe(v))
	}
	return i, nil
}

// convertUint checks the value is a non-negative integer. The CEL type of a uint
// parameter is int, as in the established language, so expressions such as `n > 5`
// type-check; the value is passed as int64.
func convertUint(v any) (any, error) {
	_, i, isInt, err := number(v)
	if err != nil {
		return nil, err
	}
	if !isInt || i < 0 {
		return nil, fmt.Errorf("expected a non-negative integer, found %s", describe(v))
	}
	return i, nil
}

func convertDouble(v any) (any, error) {
	f, _, _, err := number(v)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func convertBytes(v any) (any, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case string:
		b, err := base64.StdEncoding.DecodeString(x)
		if err != nil {
			return nil, fmt.Errorf("expected base64-encoded bytes: %v", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("expected a base64 string, found %s", describe(v))
}

func convertDuration(v any) (any, error) {
	switch x := v.(type) {
	case time.Duration:
		return x, nil
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return nil, fmt.Errorf("expected a duration such as \"1h30m\", found %s", describe(v))
		}
		return d, nil
	}
	return nil, fmt.Errorf("expected a duration string such as \"1h30m\", found %s", describe(v))
}

func convertTimestamp(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return nil, fmt.Errorf("expected an RFC 3339 timestamp such as \"2026-01-02T15:04:05Z\", found %s", describe(v))
		}
		return t, nil
	}
	return nil, fmt.Errorf("expected an RFC 3339 timestamp string, found %s", describe(v))
}

func convertIP(v any) (any, error) {
	switch x := v.(type) {
	case IPAddress:
		return x, nil
	case string:
		a, err := netip.ParseAddr(x)
		if err != nil {
			return nil, fmt.Errorf("expected an IP address, found %s", describe(v))
		}
		return IPAddress{addr: a}, nil
	}
	return nil, fmt.Errorf("expected an IP address string, found %s", describe(v))
}

// ipAddressCELType is the CEL type of ipaddress parameters.
var ipAddressCELType = cel.OpaqueType("ipaddress")

// IPAddress is the CEL value of an ipaddress parameter. Its one method in CEL is
// in_cidr(string) bool.
type IPAddress struct{ addr netip.Addr }

// ConvertToNative turns the address into its string form.
func (a IPAddress) ConvertToNative(t reflect.Type) (any, error) {
	if t.Kind() == reflect.String {
		return a.addr.String(), nil
	}
	return nil, fmt.Errorf("cannot convert ipaddress to %v", t)
}

// ConvertToType supports string(ip) and type(ip).
func (a IPAddress) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(a.addr.String())
	case types.TypeType:
		return ipAddressCELType
	}
	return types.NewErr("cannot convert ipaddress to %s", t.TypeName())
}

// Equal compares two addresses.
func (a IPAddress) Equal(o ref.Val) ref.Val {
	b, ok := o.(IPAddress)
	if !ok {
		return types.False
	}
	return types.Bool(a.addr == b.addr)
}

// Type returns the ipaddress CEL type.
func (a IPAddress) Type() ref.Type { return ipAddressCELType }

// Value returns the address itself.
func (a IPAddress) Value() any { return a }

func inCIDR(lhs, rhs ref.Val) ref.Val {
	ip, ok := lhs.(IPAddress)
	if !ok {
		return types.NewErr("in_cidr: receiver is not an ipaddress")
	}
	s, ok := rhs.Value().(string)
	if !ok {
		return types.NewErr("in_cidr: expected a CIDR string")
	}
	prefix, err := netip.ParsePrefix(s)
	if err != nil {
		return types.NewErr("in_cidr: invalid CIDR %q", s)
	}
	return types.Bool(prefix.Contains(ip.addr))
}

package protoconv

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// ContextFromProto turns a caveat context into the map the engine evaluates. Numbers
// arrive as float64, as JSON decoding gives them; the caveat layer converts them to
// the parameter's type. An empty Struct gives nil.
func ContextFromProto(s *structpb.Struct) map[string]any {
	if s == nil || len(s.GetFields()) == 0 {
		return nil
	}
	return s.AsMap()
}

// ContextToProto converts a caveat context a user gave (parsed from JSON, numbers kept
// as json.Number) to a Struct. Numbers become doubles, the only number a Struct holds;
// one beyond the double range is an error that names it. An empty context gives nil.
func ContextToProto(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	v, err := normalize(m, true)
	if err != nil {
		return nil, err
	}
	return structpb.NewStruct(v.(map[string]any))
}

// storedContextToProto converts a caveat context read back from the store. It was
// accepted once, so it is sent even where a value has no Struct form: such a value
// goes in its text form.
func storedContextToProto(m map[string]any) *structpb.Struct {
	if len(m) == 0 {
		return nil
	}
	v, _ := normalize(m, false)
	s, err := structpb.NewStruct(v.(map[string]any))
	if err != nil {
		return nil
	}
	return s
}

// normalize turns values a Struct cannot hold directly (json.Number, times, durations,
// other Stringers) into their JSON equivalents. Strict, a json.Number that is not a
// double is an error; otherwise it is kept as its text.
func normalize(v any, strict bool) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalize(e, strict)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalize(e, strict)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			if strict {
				return nil, fmt.Errorf("number %s: %v", x, err)
			}
			return x.String(), nil
		}
		return f, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case time.Duration:
		return x.String(), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return v, nil
}

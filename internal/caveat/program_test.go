package caveat

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// ctx decodes a JSON object the way the API layer does (numbers as float64).
func ctx(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test context %q: %v", s, err)
	}
	return m
}

// ctxNumber decodes with UseNumber, as a streaming decoder may.
func ctxNumber(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

type evalCase struct {
	context string
	want    Result
}

// The cases follow the conformance files with caveats (basiccaveat, caveatip,
// caveatlist, caveatmap, caveatexpiration, allopscaveat, timestamps).
func TestEvaluateConformanceSemantics(t *testing.T) {
	yes, no := Result{Satisfied: true}, Result{}
	missing := func(names ...string) Result { return Result{Missing: names} }
	cases := []struct {
		name   string
		params []Param
		expr   string
		evals  []evalCase
	}{
		{"basiccaveat", []Param{{"somecondition", "int"}}, "somecondition == 42", []evalCase{
			{`{"somecondition": 42}`, yes},
			{`{"somecondition": 41}`, no},
			{``, missing("somecondition")},
		}},
		{"caveatip", []Param{{"user_ip", "ipaddress"}, {"cidr", "string"}}, "user_ip.in_cidr(cidr)", []evalCase{
			{`{"cidr":"10.0.0.0/8","user_ip":"10.2.3.4"}`, yes},
			{`{"cidr":"10.0.0.0/8","user_ip":"1.2.3.4"}`, no},
			{`{"cidr":"10.1.0.0/16"}`, missing("user_ip")},
			{`{"user_ip":"::1","cidr":"::/0"}`, yes},
			{``, missing("cidr", "user_ip")},
		}},
		{"caveatlist", []Param{{"somelist", "list<int>"}}, "somelist.all(i, i >= 42)", []evalCase{
			{`{"somelist": [42, 43]}`, yes},
			{`{"somelist": [42, 41]}`, no},
			{`{"somelist": []}`, yes},
			{`{"somelist": [12]}`, no},
			{``, missing("somelist")},
		}},
		{"caveatmap", []Param{{"somemap", "map<any>"}}, "somemap.foo == 42 && somemap.bar < 56", []evalCase{
			{`{"somemap": {"foo": 42, "bar": 10}}`, yes},
			{`{"somemap": {"foo": 42, "bar": 57}}`, no},
			{`{"somemap": {"foo": 42, "bar": -2}}`, yes},
			{`{"somemap": {"foo": 41}}`, no},
			{`{"somemap": {"foo": 42, "bar": 56}}`, no},
		}},
		{"caveatexpiration", []Param{{"current_time", "timestamp"}, {"expiration", "timestamp"}}, "current_time < expiration", []evalCase{
			{`{"expiration":"2024-12-01T00:00:00Z","current_time":"2023-01-01T00:00:00Z"}`, yes},
			{`{"expiration":"2023-12-01T00:00:00Z","current_time":"2023-12-01T00:01:00Z"}`, no},
			{`{"expiration":"2023-12-01T00:00:00Z"}`, missing("current_time")},
		}},
		{"decided without the missing one", []Param{{"first", "bool"}, {"second", "bool"}}, "first || second", []evalCase{
			{`{"first": true}`, yes},
			{`{"second": true}`, yes},
			{`{"first": false}`, missing("second")},
			{`{"first": false, "second": false}`, no},
		}},
		{"and short-circuits", []Param{{"first", "bool"}, {"second", "bool"}}, "first && second", []evalCase{
			{`{"first": false}`, no},
			{`{"first": true}`, missing("second")},
		}},
		{"all kinds", []Param{{"n", "uint"}, {"d", "double"}, {"b", "bytes"}, {"dur", "duration"}, {"m", "map<list<string>>"}},
			`n > 5 && d < 1.5 && b == b"hi" && dur > duration("1h") && "x" in m.keys`, []evalCase{
				{`{"n": 6, "d": 1, "b": "aGk=", "dur": "1h30m", "m": {"keys": ["x"]}}`, yes},
				{`{"n": 5, "d": 1, "b": "aGk=", "dur": "1h30m", "m": {"keys": ["x"]}}`, no},
				{`{"n": 6, "d": 1, "b": "aGk=", "dur": "59m", "m": {"keys": ["x"]}}`, no},
			}},
		{"any with numbers", []Param{{"v", "any"}}, "v == 3", []evalCase{
			{`{"v": 3}`, yes},
			{`{"v": 4}`, no},
		}},
		{"timestamps", []Param{{"now", "timestamp"}}, `now > timestamp("2020-01-01T00:00:00Z") && now.getFullYear() == 2021`, []evalCase{
			{`{"now": "2021-06-01T10:00:00Z"}`, yes},
			{`{"now": "2022-06-01T10:00:00+02:00"}`, no},
		}},
	}
	for _, tc := range cases {
		p, err := Compile(tc.name, tc.params, tc.expr)
		if err != nil {
			t.Fatalf("%s: compile: %v", tc.name, err)
		}
		for _, ev := range tc.evals {
			got, err := p.Evaluate(ctx(t, ev.context))
			if err != nil {
				t.Errorf("%s with %s: %v", tc.name, ev.context, err)
				continue
			}
			if !reflect.DeepEqual(got, ev.want) {
				t.Errorf("%s with %s: got %+v, want %+v", tc.name, ev.context, got, ev.want)
			}
		}
	}
}

func TestEvaluateJSONNumber(t *testing.T) {
	p, err := Compile("c", []Param{{"n", "int"}, {"l", "list<double>"}, {"a", "any"}}, "n == 42 && l[0] > 1.0 && a.x == 7")
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Evaluate(ctxNumber(t, `{"n": 42, "l": [1.5], "a": {"x": 7}}`))
	if err != nil || !got.Satisfied {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestEvaluateConversionErrors(t *testing.T) {
	cases := []struct {
		typ, value, want string
	}{
		{"int", `"abc"`, "parameter `v` (int): expected a number, found string \"abc\""},
		{"int", `1.5`, "parameter `v` (int): expected an integer, found number 1.5"},
		{"uint", `-1`, "expected a non-negative integer"},
		{"bool", `1`, "expected a boolean, found number 1"},
		{"string", `true`, "expected a string, found boolean true"},
		{"timestamp", `"yesterday"`, "expected an RFC 3339 timestamp"},
		{"duration", `"forever"`, "expected a duration such as \"1h30m\""},
		{"ipaddress", `"10.0.0.300"`, "expected an IP address, found string \"10.0.0.300\""},
		{"bytes", `"!!"`, "expected base64-encoded bytes"},
		{"list<int>", `[1, "x"]`, "item 1: expected a number"},
		{"map<int>", `{"k": "x"}`, "key \"k\": expected a number"},
		{"map<int>", `[1]`, "expected an object (map), found a list"},
	}
	for _, tc := range cases {
		p, err := Compile("c", []Param{{"v", tc.typ}}, "true")
		if err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		_, err = p.Evaluate(ctx(t, `{"v": `+tc.value+`}`))
		var pe *ParamError
		if err == nil || !errors.As(err, &pe) || pe.Param != "v" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: got %v, want %q", tc.typ, tc.value, err, tc.want)
		}
	}
}

func TestEvaluateRuntimeError(t *testing.T) {
	p, err := Compile("c", []Param{{"ip", "ipaddress"}, {"cidr", "string"}}, "ip.in_cidr(cidr)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Evaluate(ctx(t, `{"ip": "10.0.0.1", "cidr": "nonsense"}`)); err == nil || !strings.Contains(err.Error(), "invalid CIDR") {
		t.Errorf("got %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		params []Param
		expr   string
		want   string
		line   int
		col    int
	}{
		{[]Param{{"n", "int"}}, "n + 1", "must be a bool, but it is a int", 1, 1},
		{[]Param{{"n", "int"}}, "n == \"x\"", "found no matching overload for '_==_'", 1, 3},
		{[]Param{{"n", "int"}}, "m == 1", "undeclared reference to 'm'", 1, 1},
		{[]Param{{"n", "int"}}, "n ==\n  (1", "Syntax error", 2, 5},
		{[]Param{{"n", "strng"}}, "true", "unknown parameter type `strng` (did you mean `string`?)", 0, 0},
		{[]Param{{"n", "map<string, int>"}}, "true", "type `map` takes one type argument", 0, 0},
		{[]Param{{"n", "list"}}, "true", "type `list` needs one type argument", 0, 0},
		{[]Param{{"n", "int"}, {"n", "int"}}, "true", "parameter `n` is declared twice", 0, 0},
		{nil, "  ", "the expression is empty", 0, 0},
	}
	for _, tc := range cases {
		_, err := Compile("c", tc.params, tc.expr)
		var ce *CompileError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.expr, err, tc.want)
			continue
		}
		if tc.line > 0 && (ce.Issues[0].Line != tc.line || ce.Issues[0].Col != tc.col) {
			t.Errorf("%q: position %d:%d, want %d:%d", tc.expr, ce.Issues[0].Line, ce.Issues[0].Col, tc.line, tc.col)
		}
	}
}

func TestZeroProgram(t *testing.T) {
	var p *Program
	if _, err := p.Evaluate(nil); err == nil {
		t.Error("want an error from a nil program")
	}
}

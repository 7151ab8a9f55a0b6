package caveat

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// maxCost bounds the work one evaluation may do (CEL's cost units, roughly one per
// operation), so a caveat over a huge list cannot stall a check.
const maxCost = 10_000_000

// Program is a compiled caveat, ready to evaluate. It is safe for concurrent use.
type Program struct {
	Name   string
	Params []Param

	types   map[string]*paramType
	program cel.Program
}

// Issue is one problem in a caveat expression. Line and Col are 1-based and relative
// to the expression text; Line is 0 when CEL gave no position.
type Issue struct {
	Line, Col int
	Message   string
}

// CompileError lists what is wrong with a caveat: bad parameters or CEL errors.
type CompileError struct {
	Caveat string
	// Param is set when the problem is a parameter (its name).
	Param  string
	Issues []Issue
}

func (e *CompileError) Error() string {
	msgs := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		if is.Line > 0 {
			msgs[i] = fmt.Sprintf("%d:%d: %s", is.Line, is.Col, is.Message)
		} else {
			msgs[i] = is.Message
		}
	}
	return fmt.Sprintf("caveat `%s`: %s", e.Caveat, strings.Join(msgs, "; "))
}

// Compile type-checks a caveat expression against its typed parameters. The
// expression must be a bool. Parameter types are written as in the schema language.
func Compile(name string, params []Param, expr string) (*Program, error) {
	opts := []cel.EnvOption{
		cel.DefaultUTCTimeZone(true),
		cel.Function("in_cidr",
			cel.MemberOverload("ipaddress_in_cidr_string",
				[]*cel.Type{ipAddressCELType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inCIDR))),
	}
	pts := make(map[string]*paramType, len(params))
	for _, p := range params {
		if p.Name == "" {
			return nil, &CompileError{Caveat: name, Issues: []Issue{{Message: "a parameter has no name"}}}
		}
		if _, dup := pts[p.Name]; dup {
			return nil, &CompileError{Caveat: name, Param: p.Name, Issues: []Issue{{Message: fmt.Sprintf("parameter `%s` is declared twice", p.Name)}}}
		}
		pt, err := parseType(p.Type)
		if err != nil {
			return nil, &CompileError{Caveat: name, Param: p.Name, Issues: []Issue{{Message: fmt.Sprintf("parameter `%s`: %v", p.Name, err)}}}
		}
		pts[p.Name] = pt
		opts = append(opts, cel.Variable(p.Name, pt.cel))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, &CompileError{Caveat: name, Issues: []Issue{{Message: err.Error()}}}
	}
	if strings.TrimSpace(expr) == "" {
		return nil, &CompileError{Caveat: name, Issues: []Issue{{Message: "the expression is empty"}}}
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		ce := &CompileError{Caveat: name}
		for _, e := range iss.Errors() {
			is := Issue{Message: e.Message}
			if loc := e.Location; loc != nil && loc.Line() > 0 {
				is.Line, is.Col = loc.Line(), loc.Column()+1
			}
			ce.Issues = append(ce.Issues, is)
		}
		return nil, ce
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, &CompileError{Caveat: name, Issues: []Issue{{Line: 1, Col: 1,
			Message: fmt.Sprintf("the expression must be a bool, but it is a %s", ast.OutputType())}}}
	}
	prg, err := env.Program(ast,
		cel.EvalOptions(cel.OptPartialEval, cel.OptTrackState),
		cel.CostLimit(maxCost))
	if err != nil {
		return nil, &CompileError{Caveat: name, Issues: []Issue{{Message: err.Error()}}}
	}
	return &Program{Name: name, Params: append([]Param(nil), params...), types: pts, program: prg}, nil
}

// ParamError says which parameter a context value was wrong for.
type ParamError struct {
	Caveat, Param, Type string
	Err                 error
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("caveat `%s`: parameter `%s` (%s): %v", e.Caveat, e.Param, e.Type, e.Err)
}

func (e *ParamError) Unwrap() error { return e.Err }

// Evaluate runs the caveat with a context as decoded from JSON (numbers as float64 or
// json.Number, timestamps as RFC 3339 strings, durations as "1h30m", ip addresses as
// strings, bytes as base64). Context keys that are not parameters are ignored.
// Parameters missing from the context are unknown: when the expression cannot be
// decided without them, Result.Missing names them (sorted) and Satisfied is false.
func (p *Program) Evaluate(ctx map[string]any) (Result, error) {
	if p == nil || p.program == nil {
		return Result{}, errNotCompiled
	}
	vars := make(map[string]any, len(p.types))
	var unknown []*cel.AttributePatternType
	for _, param := range p.Params {
		v, ok := ctx[param.Name]
		if !ok {
			unknown = append(unknown, cel.AttributePattern(param.Name))
			continue
		}
		pt := p.types[param.Name]
		c, err := pt.conv(v)
		if err != nil {
			return Result{}, &ParamError{Caveat: p.Name, Param: param.Name, Type: pt.name, Err: err}
		}
		vars[param.Name] = c
	}
	act, err := cel.PartialVars(vars, unknown...)
	if err != nil {
		return Result{}, fmt.Errorf("caveat `%s`: %w", p.Name, err)
	}
	out, _, err := p.program.Eval(act)
	if err != nil {
		return Result{}, fmt.Errorf("caveat `%s`: evaluation failed: %w", p.Name, err)
	}
	if types.IsUnknown(out) {
		unk := out.(*types.Unknown)
		seen := map[string]bool{}
		var missing []string
		for _, id := range unk.IDs() {
			trails, _ := unk.GetAttributeTrails(id)
			for _, t := range trails {
				if v := t.Variable(); v != "" && !seen[v] {
					seen[v] = true
					missing = append(missing, v)
				}
			}
		}
		sort.Strings(missing)
		if len(missing) == 0 {
			return Result{}, fmt.Errorf("caveat `%s`: result is unknown for no named parameter", p.Name)
		}
		return Result{Missing: missing}, nil
	}
	b, ok := out.Value().(bool)
	if !ok {
		return Result{}, fmt.Errorf("caveat `%s`: expression gave %v, not a bool", p.Name, out)
	}
	return Result{Satisfied: b}, nil
}

// errNotCompiled guards against a zero Program.
var errNotCompiled = errors.New("caveat program is not compiled")

// CheckContext converts the context values of declared parameters to their types,
// as Evaluate would, and reports the first one that does not fit. Keys that are not
// parameters are ignored. The write path uses it to refuse a relationship whose stored
// caveat context could never be evaluated.
func (p *Program) CheckContext(ctx map[string]any) error {
	if p == nil || p.program == nil {
		return errNotCompiled
	}
	for _, param := range p.Params {
		v, ok := ctx[param.Name]
		if !ok {
			continue
		}
		pt := p.types[param.Name]
		if _, err := pt.conv(v); err != nil {
			return &ParamError{Caveat: p.Name, Param: param.Name, Type: pt.name, Err: err}
		}
	}
	return nil
}

package caveat

// Program is a compiled caveat, ready to evaluate. It is safe for concurrent use.
//
// Compile(name string, params []Param, expression string) (*Program, error) and
// (*Program).Evaluate(context map[string]any) (Result, error) are implemented with
// the schema compiler.
type Program struct {
	Name   string
	Params []Param
}

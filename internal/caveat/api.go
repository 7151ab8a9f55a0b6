package caveat

// Param is one typed caveat parameter. Type is written as in the schema language:
// any, bool, string, int, uint, double, bytes, duration, timestamp, ipaddress,
// list<T>, map<T>.
type Param struct {
	Name string
	Type string
}

// Result is the outcome of evaluating a caveat with a context.
type Result struct {
	// Satisfied is the expression's value when Missing is empty.
	Satisfied bool
	// Missing names the parameters whose absence kept the expression from being
	// decided; when non-empty the caveat is conditional.
	Missing []string
}

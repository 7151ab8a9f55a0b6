package openfga

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// ParseDSL reads a model in OpenFGA's DSL (a .fga file).
func ParseDSL(text string) (*Model, error) {
	p := &dslParser{lines: strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")}
	return p.parse()
}

type dslParser struct {
	lines []string
	i     int // index of the next line
}

// dslError is a DSL error with its line.
func (p *dslParser) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", line+1, fmt.Sprintf(format, args...))
}

var (
	reType      = regexp.MustCompile(`^type\s+(\S+)$`)
	reDefine    = regexp.MustCompile(`^define\s+([^:\s]+)\s*:\s*(.+)$`)
	reCondition = regexp.MustCompile(`^condition\s+([^(\s]+)\s*\((.*)\)\s*\{(.*)$`)
	reSchema    = regexp.MustCompile(`^schema\s+(\S+)$`)
)

// stripComment removes a # comment: one at the start of a line, or after
// whitespace (a # inside a name such as group#member is no comment).
func stripComment(line string) string {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, "#") {
		return ""
	}
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

func (p *dslParser) parse() (*Model, error) {
	m := &Model{}
	var cur *TypeDefinition
	inRelations := false
	sawModel := false
	for ; p.i < len(p.lines); p.i++ {
		line := stripComment(p.lines[p.i])
		if line == "" {
			continue
		}
		switch {
		case line == "model":
			sawModel = true
			cur, inRelations = nil, false
		case reSchema.MatchString(line):
			if !sawModel {
				return nil, p.errorf(p.i, "schema outside the model block")
			}
			m.SchemaVersion = reSchema.FindStringSubmatch(line)[1]
		case strings.HasPrefix(line, "module ") || strings.HasPrefix(line, "extend type "):
			return nil, p.errorf(p.i, "modular models (module, extend type) have no Pemba equivalent: combine the modules into one model first (fga model write combines them)")
		case reType.MatchString(line):
			m.TypeDefinitions = append(m.TypeDefinitions, TypeDefinition{Type: reType.FindStringSubmatch(line)[1]})
			cur, inRelations = &m.TypeDefinitions[len(m.TypeDefinitions)-1], false
		case line == "relations":
			if cur == nil {
				return nil, p.errorf(p.i, "relations outside a type")
			}
			inRelations = true
		case reDefine.MatchString(line):
			if cur == nil || !inRelations {
				return nil, p.errorf(p.i, "define outside a type's relations block")
			}
			sm := reDefine.FindStringSubmatch(line)
			name := sm[1]
			if _, dup := cur.Relations[name]; dup {
				return nil, p.errorf(p.i, "relation %s is defined twice on type %s", name, cur.Type)
			}
			rw, direct, err := parseRewrite(sm[2])
			if err != nil {
				return nil, p.errorf(p.i, "relation %s#%s: %v", cur.Type, name, err)
			}
			if cur.Relations == nil {
				cur.Relations = map[string]Userset{}
				cur.Metadata = &TypeMetadata{Relations: map[string]RelationMetadata{}}
			}
			cur.Relations[name] = rw
			cur.Metadata.Relations[name] = RelationMetadata{DirectlyRelatedUserTypes: direct}
			cur.order = append(cur.order, name)
		case reCondition.MatchString(line):
			cur, inRelations = nil, false
			c, err := p.condition(line)
			if err != nil {
				return nil, err
			}
			if m.Conditions == nil {
				m.Conditions = map[string]Condition{}
			}
			if _, dup := m.Conditions[c.Name]; dup {
				return nil, p.errorf(p.i, "condition %s is defined twice", c.Name)
			}
			m.Conditions[c.Name] = c
		default:
			return nil, p.errorf(p.i, "cannot read %q", line)
		}
	}
	if !sawModel {
		return nil, fmt.Errorf("line 1: a model starts with \"model\" and \"schema 1.1\"")
	}
	return m, nil
}

// condition reads `condition NAME(p: type, ...) { EXPR }`, the expression possibly
// spanning lines, from the current line on.
func (p *dslParser) condition(line string) (Condition, error) {
	start := p.i
	sm := reCondition.FindStringSubmatch(line)
	c := Condition{Name: sm[1], Parameters: map[string]ParamTypeRef{}}
	for _, part := range splitParams(sm[2]) {
		name, typ, ok := strings.Cut(part, ":")
		name, typ = strings.TrimSpace(name), strings.TrimSpace(typ)
		if !ok || name == "" || typ == "" {
			return c, p.errorf(start, "condition %s: parameter %q is not NAME: TYPE", c.Name, part)
		}
		ref, err := parseParamType(typ)
		if err != nil {
			return c, p.errorf(start, "condition %s: parameter %s: %v", c.Name, name, err)
		}
		c.Parameters[name] = ref
		c.order = append(c.order, name)
	}
	body := sm[3]
	for {
		if i := strings.LastIndex(body, "}"); i >= 0 && strings.Count(body, "{") < strings.Count(body, "}") {
			c.Expression = strings.TrimSpace(body[:i])
			return c, nil
		}
		p.i++
		if p.i >= len(p.lines) {
			return c, p.errorf(start, "condition %s: no closing }", c.Name)
		}
		body += "\n" + p.lines[p.i]
	}
}

func splitParams(s string) []string {
	var out []string
	depth, last := 0, 0
	for i, r := range s {
		switch r {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[last:i])
				last = i + 1
			}
		}
	}
	if strings.TrimSpace(s[last:]) != "" {
		out = append(out, s[last:])
	}
	return out
}

var paramTypeNames = map[string]string{
	"any": "TYPE_NAME_ANY", "bool": "TYPE_NAME_BOOL", "string": "TYPE_NAME_STRING",
	"int": "TYPE_NAME_INT", "uint": "TYPE_NAME_UINT", "double": "TYPE_NAME_DOUBLE",
	"duration": "TYPE_NAME_DURATION", "timestamp": "TYPE_NAME_TIMESTAMP",
	"ipaddress": "TYPE_NAME_IPADDRESS", "map": "TYPE_NAME_MAP", "list": "TYPE_NAME_LIST",
}

func parseParamType(s string) (ParamTypeRef, error) {
	s = strings.TrimSpace(s)
	base, rest, generic := strings.Cut(s, "<")
	name, ok := paramTypeNames[strings.TrimSpace(base)]
	if !ok {
		return ParamTypeRef{}, fmt.Errorf("unknown type %q", s)
	}
	ref := ParamTypeRef{TypeName: name}
	if generic {
		if !strings.HasSuffix(rest, ">") {
			return ref, fmt.Errorf("type %q has no closing >", s)
		}
		inner, err := parseParamType(strings.TrimSuffix(rest, ">"))
		if err != nil {
			return ref, err
		}
		ref.GenericTypes = []ParamTypeRef{inner}
	}
	if (name == "TYPE_NAME_MAP" || name == "TYPE_NAME_LIST") != generic {
		return ref, fmt.Errorf("type %q: list and map take one type argument, other types none", s)
	}
	return ref, nil
}

// parseRewrite reads a relation's definition: [types], names, "X from Y", and the
// operators or, and, but not, with parentheses. OpenFGA does not mix operators
// without parentheses, and neither does this.
func parseRewrite(s string) (Userset, []RelationReference, error) {
	toks, err := tokenize(s)
	if err != nil {
		return Userset{}, nil, err
	}
	rp := &rewriteParser{toks: toks}
	u, err := rp.expr()
	if err != nil {
		return Userset{}, nil, err
	}
	if rp.pos < len(rp.toks) {
		return Userset{}, nil, fmt.Errorf("unexpected %q", rp.toks[rp.pos])
	}
	if rp.directs > 1 {
		return Userset{}, nil, fmt.Errorf("more than one [...] list of directly related types")
	}
	return u, rp.direct, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("[ without ]")
			}
			toks = append(toks, s[i:i+j+1])
			i += j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t()[", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

type rewriteParser struct {
	toks    []string
	pos     int
	direct  []RelationReference
	directs int
}

func (rp *rewriteParser) peek() string {
	if rp.pos < len(rp.toks) {
		return rp.toks[rp.pos]
	}
	return ""
}

func (rp *rewriteParser) expr() (Userset, error) {
	first, err := rp.term()
	if err != nil {
		return Userset{}, err
	}
	op := ""
	children := []Userset{first}
	for {
		next := rp.peek()
		switch next {
		case "or", "and":
		case "but":
			if rp.pos+1 >= len(rp.toks) || rp.toks[rp.pos+1] != "not" {
				return Userset{}, fmt.Errorf(`"but" must be followed by "not"`)
			}
			if op != "" {
				return Userset{}, fmt.Errorf("%q and \"but not\" are mixed without parentheses", op)
			}
			rp.pos += 2
			sub, err := rp.term()
			if err != nil {
				return Userset{}, err
			}
			if n := rp.peek(); n != "" && n != ")" {
				return Userset{}, fmt.Errorf("\"but not\" takes one term; use parentheses before %q", n)
			}
			return Userset{Difference: &Difference{Base: first, Subtract: sub}}, nil
		default:
			switch op {
			case "":
				return first, nil
			case "or":
				return Userset{Union: &Usersets{Child: children}}, nil
			default:
				return Userset{Intersection: &Usersets{Child: children}}, nil
			}
		}
		if op != "" && op != next {
			return Userset{}, fmt.Errorf("%q and %q are mixed without parentheses", op, next)
		}
		op = next
		rp.pos++
		t, err := rp.term()
		if err != nil {
			return Userset{}, err
		}
		children = append(children, t)
	}
}

func (rp *rewriteParser) term() (Userset, error) {
	t := rp.peek()
	switch {
	case t == "":
		return Userset{}, fmt.Errorf("the definition ends where a term is expected")
	case t == "(":
		rp.pos++
		u, err := rp.expr()
		if err != nil {
			return Userset{}, err
		}
		if rp.peek() != ")" {
			return Userset{}, fmt.Errorf("( without )")
		}
		rp.pos++
		return u, nil
	case strings.HasPrefix(t, "["):
		rp.pos++
		rp.directs++
		refs, err := parseDirect(strings.TrimSuffix(strings.TrimPrefix(t, "["), "]"))
		if err != nil {
			return Userset{}, err
		}
		rp.direct = refs
		return Userset{This: &struct{}{}}, nil
	case t == ")" || t == "or" || t == "and" || t == "but" || t == "from":
		return Userset{}, fmt.Errorf("unexpected %q where a term is expected", t)
	}
	rp.pos++
	if rp.peek() == "from" {
		rp.pos++
		ts := rp.peek()
		if ts == "" || ts == "(" || ts == ")" || strings.HasPrefix(ts, "[") {
			return Userset{}, fmt.Errorf("%q from needs a relation name", t)
		}
		rp.pos++
		return Userset{TupleToUserset: &TupleToUserset{Tupleset: ObjectRelation{Relation: ts}, ComputedUserset: ObjectRelation{Relation: t}}}, nil
	}
	return Userset{ComputedUserset: &ObjectRelation{Relation: t}}, nil
}

// parseDirect reads the inside of [...]: user, user:*, group#member, each optionally
// "with CONDITION".
func parseDirect(s string) ([]RelationReference, error) {
	var out []RelationReference
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("an empty entry in [...]")
		}
		ref := RelationReference{}
		if typ, cond, ok := strings.Cut(part, " with "); ok {
			part, ref.Condition = strings.TrimSpace(typ), strings.TrimSpace(cond)
			if ref.Condition == "" || strings.ContainsAny(ref.Condition, " \t") {
				return nil, fmt.Errorf("%q: with needs one condition name", part)
			}
		}
		switch {
		case strings.HasSuffix(part, ":*"):
			ref.Type, ref.Wildcard = strings.TrimSuffix(part, ":*"), &struct{}{}
		case strings.Contains(part, "#"):
			ref.Type, ref.Relation, _ = strings.Cut(part, "#")
		default:
			ref.Type = part
		}
		if ref.Type == "" || strings.ContainsAny(ref.Type, " \t:#") || strings.ContainsAny(ref.Relation, " \t:#") {
			return nil, fmt.Errorf("%q is not a type, type:* or type#relation", part)
		}
		out = append(out, ref)
	}
	return out, nil
}

// relationOrder is the order relations are written in: the DSL's, else sorted.
func (t *TypeDefinition) relationOrder() []string {
	if len(t.order) == len(t.Relations) {
		return t.order
	}
	names := make([]string, 0, len(t.Relations))
	for n := range t.Relations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

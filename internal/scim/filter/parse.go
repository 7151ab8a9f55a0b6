package filter

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a filter or path that does not parse or is beyond the limits. Type is the
// SCIM error type a server answers with: "invalidFilter" or "invalidPath".
type Error struct {
	Type string
	// Pos is the byte offset in the input where the problem was found.
	Pos int
	Msg string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s at offset %d: %s", e.Type, e.Pos, e.Msg)
}

// Limits bound what one filter may cost to parse and to evaluate. Zero fields take
// the defaults of DefaultLimits.
type Limits struct {
	// MaxLength is the most bytes of input.
	MaxLength int
	// MaxDepth is the deepest nesting of parentheses, "not" and value filters.
	MaxDepth int
	// MaxTerms is the most comparisons in one filter.
	MaxTerms int
}

// DefaultLimits are the bounds Parse and ParsePath apply.
var DefaultLimits = Limits{MaxLength: 4096, MaxDepth: 12, MaxTerms: 64}

func (l Limits) withDefaults() Limits {
	if l.MaxLength <= 0 {
		l.MaxLength = DefaultLimits.MaxLength
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxTerms <= 0 {
		l.MaxTerms = DefaultLimits.MaxTerms
	}
	return l
}

// Parse parses a filter (the "filter" query parameter) under DefaultLimits.
func Parse(s string) (Expr, error) { return DefaultLimits.Parse(s) }

// ParsePath parses a PATCH path under DefaultLimits.
func ParsePath(s string) (Path, error) { return DefaultLimits.ParsePath(s) }

// Parse parses a filter within the limits. Errors are *Error of type invalidFilter.
func (l Limits) Parse(s string) (Expr, error) {
	p, err := newParser(s, "invalidFilter", l)
	if err != nil {
		return nil, err
	}
	e, err := p.or(false)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errorf(t.pos, "unexpected %s after the end of the filter", t)
	}
	return e, nil
}

// ParsePath parses a PATCH operation's path within the limits: `attr`, `attr.sub`,
// `urn:...:attr`, `attr[filter]` or `attr[filter].sub`. Errors are *Error of type
// invalidPath.
func (l Limits) ParsePath(s string) (Path, error) {
	p, err := newParser(s, "invalidPath", l)
	if err != nil {
		return Path{}, err
	}
	t := p.next()
	if t.kind != tWord {
		return Path{}, p.errorf(t.pos, "a path starts with an attribute name, not %s", t)
	}
	attr, err := p.attrPath(t)
	if err != nil {
		return Path{}, err
	}
	out := Path{Attr: attr}
	if p.peek().kind == tLBrack {
		if attr.Sub != "" {
			return Path{}, p.errorf(p.peek().pos, "a value filter follows a multi-valued attribute, not the sub-attribute %q", attr.String())
		}
		p.next()
		if out.Filter, err = p.bracket(); err != nil {
			return Path{}, err
		}
		if t := p.peek(); t.kind == tWord && strings.HasPrefix(t.text, ".") {
			p.next()
			sub := t.text[1:]
			if !validName(sub) {
				return Path{}, p.errorf(t.pos+1, "%q is not a sub-attribute name", sub)
			}
			out.Sub = sub
		}
	}
	if t := p.peek(); t.kind != tEOF {
		return Path{}, p.errorf(t.pos, "unexpected %s after the end of the path", t)
	}
	return out, nil
}

type tokenKind int

const (
	tEOF tokenKind = iota
	tWord
	tString
	tLParen
	tRParen
	tLBrack
	tRBrack
)

type token struct {
	kind tokenKind
	pos  int
	text string // tWord: as written; tString: the decoded string
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tWord:
		return fmt.Sprintf("%q", t.text)
	case tString:
		return "string " + quote(t.text)
	case tLParen:
		return `"("`
	case tRParen:
		return `")"`
	case tLBrack:
		return `"["`
	}
	return `"]"`
}

type parser struct {
	src    string
	kind   string
	limits Limits
	toks   []token
	i      int
	depth  int
	terms  int
}

func newParser(s, kind string, l Limits) (*parser, error) {
	l = l.withDefaults()
	p := &parser{src: s, kind: kind, limits: l}
	switch {
	case len(s) > l.MaxLength:
		return nil, p.errorf(l.MaxLength, "is %d bytes, more than the %d allowed", len(s), l.MaxLength)
	case !utf8.ValidString(s):
		return nil, p.errorf(0, "is not valid UTF-8")
	case strings.TrimSpace(s) == "":
		return nil, p.errorf(0, "is empty")
	}
	if err := p.lex(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parser) errorf(pos int, format string, args ...any) *Error {
	return &Error{Type: p.kind, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == ':' || c == '-' || c == '_' || c == '$' || c == '+'
}

func (p *parser) lex() error {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']':
			kind := map[byte]tokenKind{'(': tLParen, ')': tRParen, '[': tLBrack, ']': tRBrack}[c]
			p.toks = append(p.toks, token{kind: kind, pos: i})
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return p.errorf(i, "string is not terminated")
			}
			var str string
			if err := json.Unmarshal([]byte(s[i:j+1]), &str); err != nil {
				return p.errorf(i, "string %s is not a valid JSON string", s[i:j+1])
			}
			p.toks = append(p.toks, token{kind: tString, pos: i, text: str})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			p.toks = append(p.toks, token{kind: tWord, pos: i, text: s[i:j]})
			i = j
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return p.errorf(i, "unexpected character %q", r)
		}
	}
	p.toks = append(p.toks, token{kind: tEOF, pos: len(s)})
	return nil
}

func (p *parser) peek() token { return p.toks[p.i] }

// peek2 is the token after the next one.
func (p *parser) peek2() token {
	if p.i+1 < len(p.toks) {
		return p.toks[p.i+1]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKeyword(t token, kw string) bool {
	return t.kind == tWord && strings.EqualFold(t.text, kw)
}

// enter counts one level of nesting, failing beyond the limit.
func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > p.limits.MaxDepth {
		return p.errorf(pos, "nests deeper than %d levels", p.limits.MaxDepth)
	}
	return nil
}

// or parses `and { "or" and }`; inValue is set inside a value filter's brackets.
func (p *parser) or(inValue bool) (Expr, error) {
	left, err := p.and(inValue)
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "or") {
		p.next()
		right, err := p.and(inValue)
		if err != nil {
			return nil, err
		}
		left = &Logical{Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) and(inValue bool) (Expr, error) {
	left, err := p.unary(inValue)
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "and") {
		p.next()
		right, err := p.unary(inValue)
		if err != nil {
			return nil, err
		}
		left = &Logical{And: true, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) unary(inValue bool) (Expr, error) {
	t := p.peek()
	switch {
	case p.isKeyword(t, "not") && p.peek2().kind == tLParen:
		p.next()
		x, err := p.group(inValue)
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	case t.kind == tLParen:
		return p.group(inValue)
	case t.kind != tWord:
		return nil, p.errorf(t.pos, "expected an attribute, \"not\" or \"(\", found %s", t)
	}
	p.next()
	attr, err := p.attrPath(t)
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tLBrack {
		if inValue {
			return nil, p.errorf(p.peek().pos, "a value filter cannot hold another value filter")
		}
		if attr.Sub != "" {
			return nil, p.errorf(p.peek().pos, "a value filter follows a multi-valued attribute, not the sub-attribute %q", attr.String())
		}
		p.next()
		f, err := p.bracket()
		if err != nil {
			return nil, err
		}
		return &ValuePath{Attr: attr, Filter: f}, nil
	}
	return p.compare(attr, t.pos)
}

// group parses "(" or ")" after the opening parenthesis is the next token.
func (p *parser) group(inValue bool) (Expr, error) {
	open := p.next()
	if open.kind != tLParen {
		return nil, p.errorf(open.pos, `expected "(", found %s`, open)
	}
	if err := p.enter(open.pos); err != nil {
		return nil, err
	}
	x, err := p.or(inValue)
	if err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != tRParen {
		return nil, p.errorf(t.pos, `expected ")" closing the "(" at offset %d, found %s`, open.pos, t)
	}
	p.depth--
	return x, nil
}

// bracket parses a value filter and its closing "]"; the "[" is consumed.
func (p *parser) bracket() (Expr, error) {
	open := p.toks[p.i-1]
	if err := p.enter(open.pos); err != nil {
		return nil, err
	}
	f, err := p.or(true)
	if err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != tRBrack {
		return nil, p.errorf(t.pos, `expected "]" closing the "[" at offset %d, found %s`, open.pos, t)
	}
	p.depth--
	return f, nil
}

func (p *parser) compare(attr AttrPath, pos int) (Expr, error) {
	p.terms++
	if p.terms > p.limits.MaxTerms {
		return nil, p.errorf(pos, "has more than %d comparisons", p.limits.MaxTerms)
	}
	t := p.next()
	if t.kind != tWord {
		return nil, p.errorf(t.pos, "expected an operator after %q, found %s", attr.String(), t)
	}
	op := parseOp(t.text)
	if op == opUnknown {
		return nil, p.errorf(t.pos, "%q is not an operator (eq, ne, co, sw, ew, pr, gt, ge, lt, le)", t.text)
	}
	c := &Compare{Path: attr, Op: op}
	if op == OpPr {
		return c, nil
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	c.Value = v
	return c, nil
}

var numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

func (p *parser) value() (Value, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return Value{Kind: KindString, Str: t.text}, nil
	case tWord:
		switch strings.ToLower(t.text) {
		case "true":
			return Value{Kind: KindBool, Bool: true}, nil
		case "false":
			return Value{Kind: KindBool}, nil
		case "null":
			return Value{Kind: KindNull}, nil
		}
		if numberRE.MatchString(t.text) {
			n, err := strconv.ParseFloat(t.text, 64)
			if err == nil {
				return Value{Kind: KindNumber, Num: n, raw: t.text}, nil
			}
		}
		return Value{}, p.errorf(t.pos, "%q is not a value: use a quoted string, a number, true, false or null", t.text)
	}
	return Value{}, p.errorf(t.pos, "expected a value, found %s", t)
}

// attrPath reads an attribute path from a word.
func (p *parser) attrPath(t token) (AttrPath, error) {
	w := t.text
	var out AttrPath
	rest, restPos := w, t.pos
	if len(w) > 4 && strings.EqualFold(w[:4], "urn:") {
		i := strings.LastIndexByte(w, ':')
		out.URI, rest, restPos = w[:i], w[i+1:], t.pos+i+1
		if rest == "" {
			return AttrPath{}, p.errorf(restPos, "schema URN %q names no attribute", out.URI)
		}
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	if !validName(name) {
		return AttrPath{}, p.errorf(restPos, "%q is not an attribute name", name)
	}
	if hasSub && !validName(sub) {
		return AttrPath{}, p.errorf(restPos+len(name)+1, "%q is not a sub-attribute name", sub)
	}
	out.Name, out.Sub = name, sub
	return out, nil
}

// validName reports whether s is an ATTRNAME of RFC 7643 §2.1: a letter, then
// letters, digits, "-" or "_"; "$ref" is allowed as well.
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

package schema

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits that keep the parser's time and memory bounded on any input.
const (
	// MaxSourceBytes is the largest schema source Compile accepts.
	MaxSourceBytes = 1 << 20
	// MaxExpressionDepth bounds the nesting of parentheses in a permission
	// expression (and of type parameters in a caveat parameter type).
	MaxExpressionDepth = 100
	// MaxExpressionTerms bounds the operators in one permission expression.
	MaxExpressionTerms = 10000
)

// bailout aborts the statement being parsed after a syntax error; the parser then
// skips to the next statement so that it can report the errors that follow.
type bailout struct{}

type parser struct {
	lx    *lexer
	tok   token // the current, not yet consumed token
	prev  token // the last consumed token
	diag  *diagnostics
	depth int
	terms int // operators in the expression being parsed
	src   string
}

// parse parses one schema file. Syntax errors go to diag; the returned AST holds
// everything that could be parsed.
func parse(file, src string, diag *diagnostics) *astFile {
	p := &parser{lx: newLexer(file, src), diag: diag, src: src}
	p.tok = p.lx.next()
	f := &astFile{}
	for p.tok.Kind != tokEOF {
		if p.tok.Kind == tokSemicolon {
			p.advance()
			continue
		}
		p.topLevel(f)
	}
	f.Comments = p.lx.comments
	return f
}

func (p *parser) advance() {
	p.prev = p.tok
	p.tok = p.lx.next()
}

// fail reports a syntax error at pos and abandons the current statement.
func (p *parser) fail(pos Position, format string, args ...any) {
	p.diag.add(pos, format, args...)
	panic(bailout{})
}

// failHere reports a syntax error at the current token. A lexer error is reported as
// itself, whatever was expected.
func (p *parser) failHere(format string, args ...any) {
	if p.tok.Kind == tokError {
		p.fail(p.tok.Pos, "%s", p.tok.Text)
	}
	p.fail(p.tok.Pos, format, args...)
}

func (p *parser) isWord(w string) bool { return p.tok.Kind == tokIdent && p.tok.Text == w }

// fill substitutes args for the %s verbs of format; messages are only built on
// failure, so the common path does not allocate.
func fill(format string, args []string) string {
	if len(args) == 0 {
		return format
	}
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(format, "%s")
		if j < 0 || i >= len(args) {
			b.WriteString(format)
			return b.String()
		}
		b.WriteString(format[:j])
		b.WriteString(args[i])
		i++
		format = format[j+2:]
	}
}

func (p *parser) expect(k tokenKind, context string, args ...string) token {
	if p.tok.Kind != k {
		p.failHere("expected %s %s, found %s", k, fill(context, args), p.tok.describe())
	}
	t := p.tok
	p.advance()
	return t
}

func (p *parser) expectIdent(what string, args ...string) astIdent {
	if p.tok.Kind != tokIdent {
		what = fill(what, args)
		if p.tok.Kind == tokNumber {
			p.failHere("%s %s must start with a lower-case letter", what, p.tok.describe())
		}
		p.failHere("expected %s, found %s", what, p.tok.describe())
	}
	id := astIdent{Name: p.tok.Text, Pos: p.tok.Pos}
	p.advance()
	return id
}

// typePath parses NAME or PREFIX/NAME (several prefixes allowed).
func (p *parser) typePath(what string, args ...string) astIdent {
	id := p.expectIdent(what, args...)
	for p.tok.Kind == tokSlash {
		p.advance()
		seg := p.expectIdent("a name segment after `%s/`", id.Name)
		id.Name += "/" + seg.Name
	}
	return id
}

// guard runs one statement's parser and, after a syntax error, skips ahead with sync.
func (p *parser) guard(stmt func(), sync func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			p.depth, p.terms = 0, 0
			sync()
		}
	}()
	stmt()
}

func (p *parser) atTopLevelStart() bool {
	return p.isWord("definition") || p.isWord("caveat") || p.isWord("use")
}

// syncTop skips to the next top-level statement.
func (p *parser) syncTop() {
	for p.tok.Kind != tokEOF && !p.atTopLevelStart() {
		p.advance()
	}
}

func (p *parser) topLevel(f *astFile) {
	p.guard(func() {
		switch {
		case p.isWord("definition"):
			d := p.definition()
			f.Definitions = append(f.Definitions, d)
			f.Order = append(f.Order, d)
		case p.isWord("caveat"):
			c := p.caveat()
			f.Caveats = append(f.Caveats, c)
			f.Order = append(f.Order, c)
		case p.isWord("use"):
			pos := p.tok.Pos
			p.advance()
			flag := p.expectIdent("a feature name after `use` (for example `use expiration`)")
			f.Uses = append(f.Uses, &astUse{Flag: flag, Pos: pos})
		default:
			p.failHere("expected `definition`, `caveat` or `use` at the top level, found %s", p.tok.describe())
		}
	}, func() {
		if p.tok.Kind != tokEOF && !p.atTopLevelStart() {
			p.advance()
		}
		p.syncTop()
	})
}

func (p *parser) atMemberStart() bool {
	return p.isWord("relation") || p.isWord("permission") || p.isWord("grant") || p.isWord("approve")
}

func (p *parser) definition() *astDefinition {
	d := &astDefinition{Pos: p.tok.Pos, Comments: p.tok.Comments}
	p.advance()
	d.Name = p.typePath("a definition name")
	d.LBrace = p.expect(tokLBrace, "after the definition name `%s`", d.Name.Name).Pos
	for {
		switch {
		case p.tok.Kind == tokRBrace:
			d.RBrace = p.tok.Pos
			p.advance()
			return d
		case p.tok.Kind == tokSemicolon:
			p.advance()
		case p.tok.Kind == tokEOF:
			p.fail(d.Pos, "definition `%s` is not closed: missing `}`", d.Name.Name)
		case p.isWord("definition") || p.isWord("caveat"):
			p.fail(p.tok.Pos, "expected `}` to close definition `%s` before this %s", d.Name.Name, p.tok.Text)
		case p.atMemberStart():
			p.guard(func() { d.Members = append(d.Members, p.member(d)) }, p.syncMember)
		default:
			p.guard(func() {
				what := "definition `" + d.Name.Name + "`"
				if n := len(d.Members); n > 0 {
					what = describeMember(d.Members[n-1])
				}
				if p.tok.Kind == tokNumber || p.tok.Kind == tokIdent {
					p.failHere("unexpected %s after %s: expected an operator, `relation`, `permission`, `grant`, `approve` or `}`", p.tok.describe(), what)
				}
				p.failHere("unexpected %s in %s: expected `relation`, `permission`, `grant`, `approve` or `}`", p.tok.describe(), what)
			}, func() {
				p.advance()
				p.syncMember()
			})
		}
	}
}

func describeMember(m astMember) string {
	switch m := m.(type) {
	case *astRelation:
		return "relation `" + m.Name.Name + "`"
	case *astPermission:
		return "permission `" + m.Name.Name + "`"
	case *astGrant:
		return "the grant rule"
	case *astApproval:
		return "the approval rule"
	}
	return "the previous statement"
}

// syncMember skips to the next statement inside a definition (or its end).
func (p *parser) syncMember() {
	for p.tok.Kind != tokEOF && p.tok.Kind != tokRBrace && !p.atMemberStart() &&
		!p.isWord("definition") && !p.isWord("caveat") {
		p.advance()
	}
}

func (p *parser) member(d *astDefinition) astMember {
	switch {
	case p.isWord("relation"):
		return p.relation()
	case p.isWord("permission"):
		return p.permission()
	case p.isWord("approve"):
		return p.approval()
	default:
		return p.grant()
	}
}

func (p *parser) relation() *astRelation {
	r := &astRelation{Pos: p.tok.Pos, Comments: p.tok.Comments}
	p.advance()
	r.Name = p.expectIdent("a relation name")
	if p.tok.Kind == tokEquals {
		p.failHere("relation `%s` uses `=`: a relation lists subject types after `:` (use `permission` for an expression)", r.Name.Name)
	}
	p.expect(tokColon, "after relation name `%s`", r.Name.Name)
	for {
		r.Types = append(r.Types, p.typeRef(r.Name.Name))
		if p.tok.Kind != tokPipe {
			break
		}
		p.advance()
	}
	r.Last = p.prev.Pos
	return r
}

func (p *parser) typeRef(rel string) *astTypeRef {
	t := &astTypeRef{Pos: p.tok.Pos}
	t.Type = p.typePath("a subject type for relation `%s`", rel)
	switch p.tok.Kind {
	case tokColon:
		p.advance()
		if p.tok.Kind != tokStar {
			p.failHere("expected `*` after `%s:` (a wildcard is written `%s:*`), found %s", t.Type.Name, t.Type.Name, p.tok.describe())
		}
		p.advance()
		t.Wildcard = true
	case tokHash:
		p.advance()
		if p.tok.Kind == tokEllipsis {
			t.Relation = astIdent{Name: "...", Pos: p.tok.Pos}
			p.advance()
		} else {
			t.Relation = p.expectIdent("a relation name after `%s#`", t.Type.Name)
		}
	}
	if p.isWord("with") {
		p.advance()
		first := p.typePath("a caveat name or `expiration` after `with`")
		if first.Name == "expiration" && !p.isWord("and") {
			t.Expiration, t.ExpPos = true, first.Pos
			return t
		}
		if first.Name == "expiration" && p.isWord("and") {
			p.fail(first.Pos, "write the caveat before `expiration`: `with CAVEAT and expiration`")
		}
		t.Caveat = first
		if p.isWord("and") {
			p.advance()
			exp := p.expectIdent("`expiration` after `and`")
			if exp.Name != "expiration" {
				p.fail(exp.Pos, "expected `expiration` after `and`, found `%s`", exp.Name)
			}
			t.Expiration, t.ExpPos = true, exp.Pos
		}
	}
	return t
}

func (p *parser) permission() *astPermission {
	m := &astPermission{Pos: p.tok.Pos, Comments: p.tok.Comments}
	p.advance()
	m.Name = p.expectIdent("a permission name")
	if p.tok.Kind == tokColon {
		p.failHere("permission `%s` uses `:`: a permission is defined with `=` and an expression (use `relation` for subject types)", m.Name.Name)
	}
	p.expect(tokEquals, "after permission name `%s`", m.Name.Name)
	p.terms = 0
	m.Expr = p.expr()
	m.Last = p.prev.Pos
	return m
}

// parseLifetime parses durations written as one or more NUMBER UNIT pairs with units
// s, m, h, d (24h) and w (7d): "90d", "12h", "1d12h".
func parseLifetime(s string) (time.Duration, error) {
	var total time.Duration
	i := 0
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	for i < len(s) {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("expected a number before the unit at %q", s[i:])
		}
		if j == len(s) {
			return 0, fmt.Errorf("missing unit after %s (use s, m, h, d or w)", s[i:j])
		}
		n, err := strconv.ParseInt(s[i:j], 10, 64)
		if err != nil || n > 100*365*24 {
			return 0, fmt.Errorf("number %s is too large", s[i:j])
		}
		var unit time.Duration
		switch s[j] {
		case 's':
			unit = time.Second
		case 'm':
			unit = time.Minute
		case 'h':
			unit = time.Hour
		case 'd':
			unit = 24 * time.Hour
		case 'w':
			unit = 7 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("unknown unit %q (use s, m, h, d or w)", s[j])
		}
		total += time.Duration(n) * unit
		if total > 100*365*24*time.Hour {
			return 0, fmt.Errorf("longer than 100 years")
		}
		i = j + 1
	}
	if total <= 0 {
		return 0, fmt.Errorf("must be longer than zero")
	}
	return total, nil
}

// Expression grammar. Precedence follows the established language: `+` binds
// tightest, then `&`, then `-`; all three are left-associative. So `a + b & c` is
// `(a + b) & c` and `a - b + c` is `a - (b + c)`.

func (p *parser) expr() astExpr { return p.binary(tokMinus) }

func (p *parser) binary(op tokenKind) astExpr {
	first := p.tighterOperand(op)
	if p.tok.Kind != op {
		return first
	}
	chain := &astChain{Op: op, Operands: []astExpr{first}, Pos: p.tok.Pos}
	for p.tok.Kind == op {
		p.advance()
		chain.Operands = append(chain.Operands, p.tighterOperand(op))
		p.terms++
		if p.terms > MaxExpressionTerms {
			p.failHere("expression has more than %d operators", MaxExpressionTerms)
		}
	}
	return chain
}

// tighterOperand parses an operand of op: an expression of the next tighter
// operator, or a single operand for `+`.
func (p *parser) tighterOperand(op tokenKind) astExpr {
	switch op {
	case tokMinus:
		return p.binary(tokAmp)
	case tokAmp:
		return p.binary(tokPlus)
	}
	return p.operand()
}

func (p *parser) operand() astExpr {
	switch p.tok.Kind {
	case tokLParen:
		pos := p.tok.Pos
		p.depth++
		if p.depth > MaxExpressionDepth {
			p.failHere("expression is nested too deeply (more than %d levels of parentheses)", MaxExpressionDepth)
		}
		p.advance()
		inner := p.expr()
		p.expect(tokRParen, "to close the `(` at line %s", strconv.Itoa(pos.Line))
		p.depth--
		return &astParen{Inner: inner, Pos: pos}
	case tokIdent:
		if reservedWords[p.tok.Text] && p.tok.Text != "nil" {
			p.failHere("expected a relation, permission, `nil` or `(`, found the keyword `%s`", p.tok.Text)
		}
		if p.tok.Text == "nil" {
			pos := p.tok.Pos
			p.advance()
			return &astNil{Pos: pos}
		}
		name := astIdent{Name: p.tok.Text, Pos: p.tok.Pos}
		p.advance()
		switch p.tok.Kind {
		case tokArrow:
			pos := p.tok.Pos
			p.advance()
			target := p.expectIdent("a relation or permission name after `%s->`", name.Name)
			a := &astArrow{Tupleset: name, Target: target, Func: "->", Pos: pos}
			p.noChainedArrow(a)
			return a
		case tokDot:
			pos := p.tok.Pos
			p.advance()
			fn := p.expectIdent("`any` or `all` after `%s.`", name.Name)
			if fn.Name != "any" && fn.Name != "all" {
				p.fail(fn.Pos, "unknown arrow function `%s`: use `%s.any(...)` or `%s.all(...)`", fn.Name, name.Name, name.Name)
			}
			p.expect(tokLParen, "after `%s.%s`", name.Name, fn.Name)
			target := p.expectIdent("a relation or permission name inside `%s(...)`", fn.Name)
			p.expect(tokRParen, "to close `%s.%s(`", name.Name, fn.Name)
			a := &astArrow{Tupleset: name, Target: target, Func: fn.Name, Pos: pos}
			p.noChainedArrow(a)
			return a
		}
		return &astRef{astIdent: name}
	}
	if p.tok.Kind == tokNumber {
		p.failHere("expected a relation or permission name, found %s (names start with a lower-case letter)", p.tok.describe())
	}
	p.failHere("expected a relation, permission, `nil` or `(`, found %s", p.tok.describe())
	return nil
}

func (p *parser) noChainedArrow(a *astArrow) {
	if p.tok.Kind == tokArrow || p.tok.Kind == tokDot {
		p.failHere("nested arrows are not supported: after `%s` define a permission on the target type and arrow to it", arrowText(a))
	}
}

func arrowText(a *astArrow) string {
	if a.Func == "->" {
		return a.Tupleset.Name + "->" + a.Target.Name
	}
	return a.Tupleset.Name + "." + a.Func + "(" + a.Target.Name + ")"
}

func (p *parser) caveat() *astCaveat {
	c := &astCaveat{Pos: p.tok.Pos, Comments: p.tok.Comments}
	p.advance()
	c.Name = p.typePath("a caveat name")
	p.expect(tokLParen, "after the caveat name `%s` (parameters are written `(name type, ...)`)", c.Name.Name)
	for p.tok.Kind != tokRParen {
		param := &astParam{Pos: p.tok.Pos}
		param.Name = p.expectIdent("a parameter name")
		param.TypePos = p.tok.Pos
		param.Type = p.paramType(0)
		c.Params = append(c.Params, param)
		if p.tok.Kind == tokComma {
			p.advance()
			continue
		}
		if p.tok.Kind != tokRParen {
			p.failHere("expected `,` or `)` after parameter `%s`, found %s", param.Name.Name, p.tok.describe())
		}
	}
	p.advance()
	if p.tok.Kind != tokLBrace {
		p.failHere("expected `{` and a CEL expression after the parameters of caveat `%s`, found %s", c.Name.Name, p.tok.describe())
	}
	open := p.tok.Pos
	text, pos, ok := p.lx.rawBody(open)
	if !ok {
		p.fail(open, "caveat `%s` body is not closed: missing `}`", c.Name.Name)
	}
	c.Expr, c.ExprPos = text, pos
	c.Last = Position{File: p.lx.file, Line: p.lx.line, Col: p.lx.col - 1}
	p.advance()
	return c
}

// paramType parses a caveat parameter type such as int, list<string> or map<list<int>>.
func (p *parser) paramType(depth int) string {
	if depth > MaxExpressionDepth {
		p.failHere("parameter type is nested too deeply")
	}
	name := p.expectIdent("a parameter type")
	if p.tok.Kind != tokLAngle {
		return name.Name
	}
	p.advance()
	out := name.Name + "<"
	for {
		out += p.paramType(depth + 1)
		if p.tok.Kind != tokComma {
			break
		}
		out += ", "
		p.advance()
	}
	p.expect(tokRAngle, "to close the type parameters of `%s`", name.Name)
	return out + ">"
}

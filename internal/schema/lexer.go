package schema

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenKind classifies a lexeme of the schema language.
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokError
	tokIdent  // a word that starts with a letter or underscore
	tokNumber // a word that starts with a digit (durations such as 90d)
	tokLBrace
	tokRBrace
	tokLParen
	tokRParen
	tokLAngle
	tokRAngle
	tokPipe
	tokPlus
	tokMinus
	tokAmp
	tokSlash
	tokEquals
	tokColon
	tokSemicolon
	tokHash
	tokStar
	tokComma
	tokDot
	tokArrow
	tokEllipsis
)

var tokenNames = map[tokenKind]string{
	tokEOF: "end of file", tokError: "invalid input", tokIdent: "identifier", tokNumber: "number",
	tokLBrace: "`{`", tokRBrace: "`}`", tokLParen: "`(`", tokRParen: "`)`", tokLAngle: "`<`",
	tokRAngle: "`>`", tokPipe: "`|`", tokPlus: "`+`", tokMinus: "`-`", tokAmp: "`&`",
	tokSlash: "`/`", tokEquals: "`=`", tokColon: "`:`", tokSemicolon: "`;`", tokHash: "`#`",
	tokStar: "`*`", tokComma: "`,`", tokDot: "`.`", tokArrow: "`->`", tokEllipsis: "`...`",
}

func (k tokenKind) String() string { return tokenNames[k] }

// comment is one comment as written, with its markers.
type comment struct {
	Text string
	Pos  Position
	// Off and End are the byte offsets of its first character and just after its last.
	Off, End int
}

// isDoc reports whether the comment is a doc comment (/** ... */).
func (c comment) isDoc() bool {
	return strings.HasPrefix(c.Text, "/**") && c.Text != "/**/"
}

// token is one lexeme with its position and the comments written before it.
type token struct {
	Kind tokenKind
	Text string
	Pos  Position
	Off  int // byte offset in the source
	// Comments are the comments between the previous token and this one.
	Comments []comment
}

// describe names the token for error messages.
func (t token) describe() string {
	switch t.Kind {
	case tokIdent, tokNumber:
		return "`" + truncateText(t.Text, 40) + "`"
	case tokEOF:
		return "end of file"
	case tokError:
		return t.Text
	}
	return t.Kind.String()
}

func truncateText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// lexer turns source text into tokens on demand. The parser drives it, which lets a
// caveat body be read as raw CEL text instead of schema tokens.
type lexer struct {
	file string
	src  string
	off  int // byte offset of the next rune
	line int
	col  int // column of the next rune, 1-based, in runes
	// comments collects every comment outside caveat bodies, in source order, so the
	// formatter can put each one back.
	comments []comment
}

func newLexer(file, src string) *lexer {
	return &lexer{file: file, src: src, line: 1, col: 1}
}

func (l *lexer) pos() Position { return Position{File: l.file, Line: l.line, Col: l.col} }

func (l *lexer) peekRune() rune {
	if l.off >= len(l.src) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return r
}

func (l *lexer) advance() rune {
	if l.off >= len(l.src) {
		return -1
	}
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	l.off += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func (l *lexer) hasPrefix(s string) bool { return strings.HasPrefix(l.src[l.off:], s) }

// next returns the next token, collecting the comments before it.
func (l *lexer) next() token {
	var comments []comment
	for {
		r := l.peekRune()
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == '\f' || r == '\ufeff':
			l.advance()
			continue
		case l.hasPrefix("//"):
			start, p := l.off, l.pos()
			for r := l.peekRune(); r != -1 && r != '\n'; r = l.peekRune() {
				l.advance()
			}
			cm := comment{Text: strings.TrimRight(l.src[start:l.off], "\r"), Pos: p, Off: start, End: l.off}
			comments = append(comments, cm)
			l.comments = append(l.comments, cm)
			continue
		case l.hasPrefix("/*"):
			start, p := l.off, l.pos()
			l.advance()
			l.advance()
			closed := false
			for l.off < len(l.src) {
				if l.hasPrefix("*/") {
					l.advance()
					l.advance()
					closed = true
					break
				}
				l.advance()
			}
			if !closed {
				return token{Kind: tokError, Text: "unterminated block comment (missing `*/`)", Pos: p, Off: start}
			}
			cm := comment{Text: l.src[start:l.off], Pos: p, Off: start, End: l.off}
			comments = append(comments, cm)
			l.comments = append(l.comments, cm)
			continue
		}
		t := l.scan()
		t.Comments = comments
		return t
	}
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// scan reads one token at the current position (no leading space or comments).
func (l *lexer) scan() token {
	p, start := l.pos(), l.off
	r := l.advance()
	tok := func(k tokenKind) token { return token{Kind: k, Text: l.src[start:l.off], Pos: p, Off: start} }
	switch r {
	case -1:
		return token{Kind: tokEOF, Pos: p, Off: start}
	case '{':
		return tok(tokLBrace)
	case '}':
		return tok(tokRBrace)
	case '(':
		return tok(tokLParen)
	case ')':
		return tok(tokRParen)
	case '<':
		return tok(tokLAngle)
	case '>':
		return tok(tokRAngle)
	case '|':
		return tok(tokPipe)
	case '+':
		return tok(tokPlus)
	case '&':
		return tok(tokAmp)
	case '/':
		return tok(tokSlash)
	case '=':
		return tok(tokEquals)
	case ':':
		return tok(tokColon)
	case ';':
		return tok(tokSemicolon)
	case '#':
		return tok(tokHash)
	case '*':
		return tok(tokStar)
	case ',':
		return tok(tokComma)
	case '-':
		if l.peekRune() == '>' {
			l.advance()
			return tok(tokArrow)
		}
		return tok(tokMinus)
	case '.':
		if l.hasPrefix("..") {
			l.advance()
			l.advance()
			return tok(tokEllipsis)
		}
		return tok(tokDot)
	}
	if isWordRune(r) {
		for isWordRune(l.peekRune()) {
			l.advance()
		}
		if unicode.IsDigit(r) {
			return tok(tokNumber)
		}
		return tok(tokIdent)
	}
	return token{Kind: tokError, Text: "unexpected character " + quoteRune(r), Pos: p, Off: start}
}

func quoteRune(r rune) string {
	if r == utf8.RuneError {
		return "(invalid UTF-8)"
	}
	if unicode.IsPrint(r) {
		return "`" + string(r) + "`"
	}
	return fmt.Sprintf("%U", r)
}

// rawBody reads a caveat body: CEL text up to the `}` that closes the `{` just consumed.
// Braces inside string literals and comments do not count. It returns the text with
// surrounding space trimmed and the position of its first character.
func (l *lexer) rawBody(open Position) (string, Position, bool) {
	depth := 0
	start := l.off
	for {
		if l.off >= len(l.src) {
			return "", open, false
		}
		switch {
		case l.hasPrefix("//"):
			for r := l.peekRune(); r != -1 && r != '\n'; r = l.peekRune() {
				l.advance()
			}
			continue
		case l.hasPrefix(`"""`) || l.hasPrefix(`'''`):
			q := l.src[l.off : l.off+3]
			l.advance()
			l.advance()
			l.advance()
			for l.off < len(l.src) && !l.hasPrefix(q) {
				if l.peekRune() == '\\' {
					l.advance()
				}
				l.advance()
			}
			l.advance()
			l.advance()
			l.advance()
			continue
		}
		r := l.peekRune()
		switch r {
		case '"', '\'':
			l.advance()
			for {
				c := l.peekRune()
				if c == -1 || c == '\n' {
					break
				}
				l.advance()
				if c == '\\' {
					l.advance()
					continue
				}
				if c == r {
					break
				}
			}
			continue
		case '{':
			depth++
		case '}':
			if depth == 0 {
				raw := l.src[start:l.off]
				l.advance()
				return trimBody(raw, open, l.file, l.src, start)
			}
			depth--
		}
		l.advance()
	}
}

// trimBody trims space around a caveat body and computes where the trimmed text
// starts in the file.
func trimBody(raw string, open Position, file, src string, start int) (string, Position, bool) {
	lead := len(raw) - len(strings.TrimLeftFunc(raw, unicode.IsSpace))
	text := strings.TrimSpace(raw)
	// Recompute the position of the first character by walking the skipped prefix.
	p := open
	p.Col++ // just after `{`
	for _, r := range src[start : start+lead] {
		if r == '\n' {
			p.Line++
			p.Col = 1
		} else {
			p.Col++
		}
	}
	p.File = file
	return text, p, true
}

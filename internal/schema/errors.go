package schema

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Error is one problem found in a schema source: where it is and one sentence that
// names the thing at fault.
type Error struct {
	Pos     Position
	Message string
	// SourceLine is the text of the line at Pos.Line, for the caret rendering.
	SourceLine string
}

// Error returns "file:line:col: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Pos, e.Message)
}

// Is makes a schema error match tuple.ErrInvalid: the schema text is the request's
// content, and it breaks a rule of the language.
func (e *Error) Is(target error) bool { return target == tuple.ErrInvalid }

// Render returns the message followed by the source line and a caret under the column:
//
//	schema.zed:12:23: relation `viewr` not found on definition `document` (did you mean `viewer`?)
//	    permission view = viewr + owner
//	                      ^
func (e *Error) Render() string {
	var b strings.Builder
	b.WriteString(e.Error())
	if e.SourceLine == "" || e.Pos.Col < 1 {
		return b.String()
	}
	line := e.SourceLine
	b.WriteString("\n    ")
	b.WriteString(line)
	b.WriteString("\n    ")
	// Pad with the same whitespace characters as the source so tabs line up.
	col := 1
	for _, r := range line {
		if col >= e.Pos.Col {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
		col++
	}
	for ; col < e.Pos.Col; col++ {
		b.WriteByte(' ')
	}
	b.WriteByte('^')
	return b.String()
}

// String formats a position as "file:line:col" (without the file when it is empty).
func (p Position) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// ErrorList is every problem found in one schema file, in source order. Compile
// returns it as its error; its Error method renders all of them.
type ErrorList []*Error

// maxErrors bounds how many problems one compilation reports, so a garbage input
// cannot produce an unbounded error text.
const maxErrors = 50

// Error renders every error with its source line and caret, separated by blank lines.
func (l ErrorList) Error() string {
	parts := make([]string, 0, len(l))
	for _, e := range l {
		parts = append(parts, e.Render())
	}
	return strings.Join(parts, "\n\n")
}

// Unwrap lets errors.As find the individual errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// diagnostics collects errors for one source.
type diagnostics struct {
	file    string
	lines   []string
	errs    ErrorList
	dropped int
	seen    map[string]bool
}

func newDiagnostics(file, src string) *diagnostics {
	return &diagnostics{file: file, lines: strings.Split(src, "\n"), seen: map[string]bool{}}
}

func (d *diagnostics) add(p Position, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	key := p.String() + "\x00" + msg
	if d.seen[key] {
		return
	}
	d.seen[key] = true
	if len(d.errs) >= maxErrors {
		d.dropped++
		return
	}
	p.File = d.file
	e := &Error{Pos: p, Message: msg}
	if p.Line >= 1 && p.Line <= len(d.lines) {
		e.SourceLine = strings.TrimRight(d.lines[p.Line-1], "\r")
	}
	d.errs = append(d.errs, e)
}

func (d *diagnostics) result() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i].Pos, d.errs[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := d.errs
	if d.dropped > 0 {
		last := out[len(out)-1]
		out = append(out, &Error{Pos: last.Pos, Message: fmt.Sprintf("too many errors: %d more not shown", d.dropped)})
	}
	return out
}

// suggest returns ` (did you mean `x`?)` when a candidate is close to name, else "".
func suggest(name string, candidates []string) string {
	best, bestDist := "", -1
	limit := 2
	if len(name) > 8 {
		limit = 3
	}
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := editDistance(name, c, limit)
		if d > limit {
			continue
		}
		if bestDist < 0 || d < bestDist || d == bestDist && betterTie(name, c, best) {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean `%s`?)", best)
}

// betterTie prefers, among equally distant candidates, the one sharing a longer
// prefix with name, then the longer one (a missing letter is a more common typo than
// an extra one), then the alphabetically first.
func betterTie(name, c, best string) bool {
	pc, pb := commonPrefix(name, c), commonPrefix(name, best)
	if pc != pb {
		return pc > pb
	}
	if len(c) != len(best) {
		return len(c) > len(best)
	}
	return c < best
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the Levenshtein distance between a and b, stopping early (returning
// limit+1) once it must exceed limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

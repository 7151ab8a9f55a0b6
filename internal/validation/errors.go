package validation

import (
	"fmt"
	"strings"
)

// Error is one problem found while loading a validation file: the file, the line
// (0 when the problem is not tied to one line) and a sentence naming what is wrong.
type Error struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	// Col is the 1-based column, when known (schema errors).
	Col int    `json:"col,omitempty"`
	Msg string `json:"message"`
	// Source is the text of the line at fault, when known (schema errors).
	Source string `json:"source,omitempty"`
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ErrorList is every problem found in one load, in the order found. It is returned as
// an error only when it is non-empty.
type ErrorList []*Error

// maxErrors bounds the problems reported for one file, so a file of garbage does not
// produce an unbounded report.
const maxErrors = 50

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap lets errors.As reach the individual errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// errs collects the problems of one file.
type errs struct {
	file string
	// lines, when known, is the file's line count: the YAML decoder places the end of
	// an empty document on the line after the last, and a message must point inside
	// the file.
	lines   int
	list    ErrorList
	dropped int
}

func (c *errs) add(line int, format string, args ...any) {
	if len(c.list) >= maxErrors {
		c.dropped++
		return
	}
	if c.lines > 0 && line > c.lines {
		line = c.lines
	}
	c.list = append(c.list, &Error{File: c.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	if c.dropped > 0 {
		c.list = append(c.list, &Error{File: c.file, Msg: fmt.Sprintf("too many problems: %d more not shown", c.dropped)})
	}
	return c.list
}

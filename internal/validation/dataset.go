package validation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// DataSet is one or more validation files read together: one compiled schema, every
// relationship checked against it, and the assertions and expected relations of all
// the files.
type DataSet struct {
	Files  []*File
	Schema *schema.Schema
	// SchemaText is the schema source as compiled (the files' schemas joined in order).
	SchemaText    string
	Relationships []tuple.Relationship
}

// Name names the data set in reports: its file, or its files joined with "+".
func (d *DataSet) Name() string {
	names := make([]string, len(d.Files))
	for i, f := range d.Files {
		names[i] = f.Path
	}
	return strings.Join(names, " + ")
}

// Assertions returns the assertions of every file, in file order.
func (d *DataSet) Assertions() []Assertion {
	var out []Assertion
	for _, f := range d.Files {
		out = append(out, f.Assertions...)
	}
	return out
}

// Expected returns the expected relations of every file, in file order.
func (d *DataSet) Expected() []ExpectedRelation {
	var out []ExpectedRelation
	for _, f := range d.Files {
		out = append(out, f.Expected...)
	}
	return out
}

// schemaPart is one file's schema inside the joined schema text.
type schemaPart struct {
	src       *SchemaSource
	firstLine int // line of the joined text on which this part starts
	lines     int
}

// Build reads files as one data set. Usually that is one file; a file holding only
// relationships is read together with the file holding their schema. The schemas of
// the files are joined in order and compiled as one; every relationship must fit it
// and may appear only once across all the files; every assertion and expected
// relation must name a defined type and relation. A data set without any schema has
// an empty one, so its relationships fail naming the definition they need.
func Build(files ...*File) (*DataSet, error) {
	if len(files) == 0 {
		return nil, errors.New("no validation files given")
	}
	ds := &DataSet{Files: files}
	var parts []schemaPart
	var text strings.Builder
	line := 1
	for _, f := range files {
		if f.Schema == nil {
			continue
		}
		if text.Len() > 0 {
			text.WriteString("\n")
			line++
		}
		n := strings.Count(f.Schema.Text, "\n") + 1
		parts = append(parts, schemaPart{src: f.Schema, firstLine: line, lines: n})
		text.WriteString(f.Schema.Text)
		line += n - 1
	}
	ds.SchemaText = text.String()
	compileName := "schema"
	if len(parts) == 1 {
		compileName = parts[0].src.File
	}
	sch, err := schema.Compile(compileName, ds.SchemaText)
	if err != nil {
		return nil, schemaErrors(err, parts, files[0].Path)
	}
	ds.Schema = sch

	problems := ErrorList{}
	add := func(file string, line int, format string, args ...any) {
		if len(problems) < maxErrors {
			problems = append(problems, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
		}
	}
	type place struct {
		file string
		line int
	}
	seen := map[tuple.Key]place{}
	for _, f := range files {
		for _, r := range f.Relationships {
			if err := sch.ValidateRelationship(r.Relationship); err != nil {
				add(f.Path, r.Line, "relationship %s: %v", r.Text, err)
				continue
			}
			if prev, dup := seen[r.Relationship.Key()]; dup {
				add(f.Path, r.Line, "relationship %s is repeated: it is also at %s:%d", r.Relationship.Key(), prev.file, prev.line)
				continue
			}
			seen[r.Relationship.Key()] = place{f.Path, r.Line}
			ds.Relationships = append(ds.Relationships, r.Relationship)
		}
		for _, a := range f.Assertions {
			if err := sch.ValidateCheck(a.Resource.Type, a.Permission, a.Subject.Type, a.Subject.Relation); err != nil {
				add(f.Path, a.Line, "%s %s: %v", a.Kind, a.Text, err)
			}
		}
		for _, e := range f.Expected {
			if d := sch.Definition(e.Resource.Type); d == nil {
				add(f.Path, e.Line, "validation key %s: definition `%s` not found", e.Name(), e.Resource.Type)
			} else if _, ok := sch.Relation(e.Resource.Type, e.Permission); !ok {
				add(f.Path, e.Line, "validation key %s: permission or relation `%s` not found on definition `%s`", e.Name(), e.Permission, e.Resource.Type)
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return ds, nil
}

// schemaErrors maps the compiler's errors back to the files the schema text came
// from: a literal YAML block or a schema file maps line for line; a folded block
// rewrites line breaks, so its errors keep the schema-relative position.
func schemaErrors(err error, parts []schemaPart, fallback string) error {
	var list schema.ErrorList
	if !errors.As(err, &list) {
		return ErrorList{{File: fallback, Msg: fmt.Sprintf("schema: %v", err)}}
	}
	out := ErrorList{}
	for _, e := range list {
		var part *schemaPart
		for i := range parts {
			if e.Pos.Line >= parts[i].firstLine && e.Pos.Line < parts[i].firstLine+parts[i].lines {
				part = &parts[i]
			}
		}
		if part == nil {
			out = append(out, &Error{File: fallback, Msg: "schema: " + e.Message})
			continue
		}
		local := e.Pos.Line - part.firstLine + 1
		if part.src.Exact {
			out = append(out, &Error{File: part.src.File, Line: local + part.src.LineOffset, Col: e.Pos.Col + part.src.Indent, Msg: "schema: " + e.Message, Source: e.SourceLine})
		} else {
			out = append(out, &Error{File: part.src.File, Msg: fmt.Sprintf("schema line %d, column %d: %s", local, e.Pos.Col, e.Message), Source: e.SourceLine})
		}
	}
	return out
}

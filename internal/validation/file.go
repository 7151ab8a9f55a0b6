package validation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// File is one parsed validation file. Every relationship, assertion and expected
// relation keeps the line it was written on, so failures can point at it.
type File struct {
	// Path is the file's path as it was given.
	Path string
	// Schema is the schema source, or nil when the file names none (a file holding only
	// relationships, meant to be loaded together with one that has the schema).
	Schema *SchemaSource
	// Relationships in the order written.
	Relationships []Relationship
	// Assertions in the order written: all assertTrue, then assertFalse, then
	// assertCaveated entries, each list in its own order.
	Assertions []Assertion
	// Expected are the entries of the `validation` block, in the order written.
	Expected []ExpectedRelation
}

// SchemaSource is schema text and where it came from.
type SchemaSource struct {
	Text string
	// File is the file the text is in: the validation file for `schema`, the schema
	// file for `schemaFile`.
	File string
	// LineOffset maps a line of Text to a line of File: text line n is file line
	// n+LineOffset. It is valid only when Exact is set; folded YAML blocks rewrite line
	// breaks, so their lines cannot be mapped back.
	LineOffset int
	Exact      bool
	// Indent is how many columns the text is indented by in File (a YAML block's
	// indentation), so a column of Text maps to column+Indent of File.
	Indent int
}

// Relationship is one line of the `relationships` block.
type Relationship struct {
	Line         int
	Text         string
	Relationship tuple.Relationship
}

// topLevelKeys are the keys a validation file may use.
var topLevelKeys = map[string]bool{
	"schema": true, "schemaFile": true, "relationships": true, "assertions": true, "validation": true,
}

// legacyKeys are keys of the file format's first version. They are refused with an
// explanation rather than ignored, because a file using them means something the
// current format cannot express.
var legacyKeys = map[string]string{
	"namespace_configs": "give the schema as schema-language text under `schema` (or in a file named by `schemaFile`)",
	"validation_tuples": "list relationships, one per line, in a string under `relationships`",
}

// Load reads and parses the validation file at path. A `schemaFile` is resolved
// relative to the file's directory.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("cannot read the file: %v", unwrapPathError(err))}}
	}
	return Parse(path, data, os.DirFS(filepath.Dir(path)))
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse parses the validation file data, named path in messages. dir is the
// validation file's directory, used to read a `schemaFile`; it may be nil when the file
// has none. Parse checks syntax only: it does not compile the schema or check
// relationships against it (Build does).
func Parse(path string, data []byte, dir fs.FS) (*File, error) {
	lines := strings.Split(string(data), "\n")
	p := &parser{file: &File{Path: path}, errs: errs{file: path, lines: len(lines)}, lines: lines, dir: dir}
	p.parse(data)
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return p.file, nil
}

type parser struct {
	file  *File
	errs  errs
	lines []string
	dir   fs.FS
}

func (p *parser) parse(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errs.add(0, "the file is empty; a validation file is a YAML mapping with `schema`, `relationships` and `assertions`")
			return
		}
		p.errs.add(yamlErrorLine(err), "not valid YAML: %s", yamlErrorText(err))
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errs.add(extra.Line, "the file holds more than one YAML document; put one validation file in each file")
		return
	} else if !errors.Is(err, io.EOF) {
		p.errs.add(yamlErrorLine(err), "not valid YAML: %s", yamlErrorText(err))
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		p.errs.add(root.Line, "the top level must be a mapping with `schema`, `relationships` and `assertions`")
		return
	}
	seen := map[string]int{}
	var schemaNode, schemaFileNode, relsNode, assertionsNode, validationNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			p.errs.add(k.Line, "key `%s` is given twice (first on line %d)", k.Value, prev)
			continue
		}
		seen[k.Value] = k.Line
		if hint, legacy := legacyKeys[k.Value]; legacy {
			p.errs.add(k.Line, "`%s` is a key of the old file format and is no longer supported: %s", k.Value, hint)
			continue
		}
		if !topLevelKeys[k.Value] {
			p.errs.add(k.Line, "unknown key `%s` (the keys are schema, schemaFile, relationships, assertions and validation)", k.Value)
			continue
		}
		switch k.Value {
		case "schema":
			schemaNode = v
		case "schemaFile":
			schemaFileNode = v
		case "relationships":
			relsNode = v
		case "assertions":
			assertionsNode = v
		case "validation":
			validationNode = v
		}
	}
	switch {
	case schemaNode != nil && schemaFileNode != nil && !isNull(schemaNode) && !isNull(schemaFileNode):
		p.errs.add(schemaFileNode.Line, "both `schema` and `schemaFile` are given (line %d and line %d); give one", schemaNode.Line, schemaFileNode.Line)
	case schemaNode != nil && !isNull(schemaNode):
		p.parseSchema(schemaNode)
	case schemaFileNode != nil && !isNull(schemaFileNode):
		p.parseSchemaFile(schemaFileNode)
	}
	if relsNode != nil {
		p.parseRelationships(relsNode)
	}
	if assertionsNode != nil {
		p.parseAssertions(assertionsNode)
	}
	if validationNode != nil {
		p.parseExpected(validationNode)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// stringValue returns a scalar's text, or reports that the key needs a string.
func (p *parser) stringValue(key string, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errs.add(n.Line, "`%s` must be a string", key)
		return "", false
	}
	return n.Value, true
}

func (p *parser) parseSchema(n *yaml.Node) {
	text, ok := p.stringValue("schema", n)
	if !ok {
		return
	}
	src := &SchemaSource{Text: text, File: p.file.Path}
	// A literal block keeps every line break, and its content starts on the line after
	// the `|` indicator, so schema line n is file line n.Line+n.
	if n.Style&yaml.LiteralStyle != 0 {
		src.LineOffset, src.Exact = n.Line, true
		for _, l := range p.lines[min(n.Line, len(p.lines)):] {
			if strings.TrimSpace(l) != "" {
				src.Indent = len(l) - len(strings.TrimLeft(l, " "))
				break
			}
		}
	}
	p.file.Schema = src
}

func (p *parser) parseSchemaFile(n *yaml.Node) {
	name, ok := p.stringValue("schemaFile", n)
	if !ok {
		return
	}
	clean, err := localPath(name)
	if err != nil {
		p.errs.add(n.Line, "schemaFile %q %v", name, err)
		return
	}
	if p.dir == nil {
		p.errs.add(n.Line, "schemaFile %q cannot be read: the file was not loaded from a directory", name)
		return
	}
	data, err := fs.ReadFile(p.dir, clean)
	if err != nil {
		p.errs.add(n.Line, "schemaFile %q cannot be read: %v", name, unwrapPathError(err))
		return
	}
	p.file.Schema = &SchemaSource{
		Text:  string(data),
		File:  filepath.Join(filepath.Dir(p.file.Path), filepath.FromSlash(clean)),
		Exact: true,
	}
}

// localPath checks that a schemaFile path is relative and stays inside the validation
// file's directory, and returns it cleaned and slash-separated.
func localPath(name string) (string, error) {
	if name == "" {
		return "", errors.New("is empty")
	}
	slashed := filepath.ToSlash(name)
	if filepath.IsAbs(name) || strings.HasPrefix(slashed, "/") {
		return "", errors.New("is an absolute path; give a path relative to the validation file's directory")
	}
	clean := filepath.ToSlash(filepath.Clean(name))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.New("leaves the validation file's directory; the schema file must be inside it")
	}
	return clean, nil
}

func (p *parser) parseRelationships(n *yaml.Node) {
	if isNull(n) {
		return
	}
	text, ok := p.stringValue("relationships", n)
	if !ok {
		return
	}
	first := map[tuple.Key]int{}
	cursor := n.Line - 1
	for raw := range strings.SplitSeq(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		var at int
		at, cursor = p.locate(line, cursor, n.Line)
		rel, err := tuple.Parse(line)
		if err != nil {
			p.errs.add(at, "%v", err)
			continue
		}
		if prev, dup := first[rel.Key()]; dup {
			p.errs.add(at, "relationship %s is repeated: it is also on line %d (a relationship may appear once, whatever its caveat or expiration)", rel.Key(), prev)
			continue
		}
		first[rel.Key()] = at
		p.file.Relationships = append(p.file.Relationships, Relationship{Line: at, Text: line, Relationship: rel})
	}
}

// locate finds the file line holding text, searching forward from the 0-based line
// index from. YAML block scalars (literal or folded) and quoted strings all keep each
// relationship's text intact on one source line, so the first line at or after the
// previous match that holds exactly that text is the one. It returns the 1-based line
// and the index to search from next; when the text cannot be found (a plain scalar
// folded across lines), it returns fallback.
func (p *parser) locate(text string, from, fallback int) (line, next int) {
	if from < 0 {
		from = 0
	}
	for i := from; i < len(p.lines); i++ {
		if strings.TrimSpace(p.lines[i]) == text {
			return i + 1, i + 1
		}
	}
	for i := from; i < len(p.lines); i++ {
		if strings.Contains(p.lines[i], text) {
			return i + 1, i + 1
		}
	}
	return fallback, from
}

// yamlErrorLine extracts the line number from a yaml.v3 error ("yaml: line 3: ...").
func yamlErrorLine(err error) int {
	var line int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		_, _ = fmt.Sscanf(msg[i:], "line %d", &line)
	}
	return line
}

func yamlErrorText(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
		msg = msg[i+2:]
	}
	return msg
}

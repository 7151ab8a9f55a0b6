package validation

import (
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// AssertionKind is the answer an assertion expects.
type AssertionKind int

// Assertion kinds, named as in the file.
const (
	// AssertTrue expects the permission to be granted.
	AssertTrue AssertionKind = iota + 1
	// AssertFalse expects it to be denied.
	AssertFalse
	// AssertCaveated expects a conditional answer: granted only if caveat context that
	// was not supplied satisfies the caveats.
	AssertCaveated
)

func (k AssertionKind) String() string {
	switch k {
	case AssertTrue:
		return "assertTrue"
	case AssertFalse:
		return "assertFalse"
	case AssertCaveated:
		return "assertCaveated"
	}
	return "unknown"
}

// assertionKeys maps the keys of the `assertions` block to kinds, in the order they
// are reported.
var assertionKeys = []struct {
	key  string
	kind AssertionKind
}{{"assertTrue", AssertTrue}, {"assertFalse", AssertFalse}, {"assertCaveated", AssertCaveated}}

// Assertion is one entry of the `assertions` block: a check and its expected answer.
type Assertion struct {
	Kind AssertionKind
	File string
	Line int
	// Text is the entry as written.
	Text       string
	Resource   tuple.ObjectRef
	Permission string
	Subject    tuple.SubjectRef
	// Context is the caveat context given with ` with {...}`, or nil.
	Context map[string]any
}

// Check returns the check the assertion makes, as "resource#permission@subject".
func (a Assertion) Check() string {
	return a.Resource.String() + "#" + a.Permission + "@" + a.Subject.String()
}

func (p *parser) parseAssertions(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errs.add(n.Line, "`assertions` must be a mapping with assertTrue, assertFalse and assertCaveated lists")
		return
	}
	lists := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		known := false
		for _, ak := range assertionKeys {
			known = known || ak.key == k.Value
		}
		if !known {
			p.errs.add(k.Line, "unknown assertion list `%s` (the lists are assertTrue, assertFalse and assertCaveated)", k.Value)
			continue
		}
		if _, dup := lists[k.Value]; dup {
			p.errs.add(k.Line, "assertion list `%s` is given twice", k.Value)
			continue
		}
		lists[k.Value] = v
	}
	for _, ak := range assertionKeys {
		v := lists[ak.key]
		if v == nil || isNull(v) {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			p.errs.add(v.Line, "`%s` must be a list of strings", ak.key)
			continue
		}
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				p.errs.add(item.Line, "each `%s` entry must be a string", ak.key)
				continue
			}
			a, err := ParseAssertion(item.Value)
			if err != nil {
				p.errs.add(item.Line, "%s entry %q: %v", ak.key, item.Value, err)
				continue
			}
			a.Kind, a.File, a.Line = ak.kind, p.file.Path, item.Line
			p.file.Assertions = append(p.file.Assertions, a)
		}
	}
}

// ParseAssertion reads "resource#permission@subject" optionally followed by
// " with {json object}". The kind, file and line are left for the caller to set.
func ParseAssertion(text string) (Assertion, error) {
	s := strings.TrimSpace(text)
	relText, ctxText, hasCtx := strings.Cut(s, " with ")
	relText = strings.TrimSpace(relText)
	rel, err := tuple.Parse(relText)
	if err != nil {
		return Assertion{}, err
	}
	if rel.Caveat != nil {
		return Assertion{}, fmt.Errorf("an assertion cannot carry a caveat; give caveat context with ` with {...}` after the relationship")
	}
	if rel.HasExpiration() {
		return Assertion{}, fmt.Errorf("an assertion cannot carry an expiration")
	}
	a := Assertion{Text: s, Resource: rel.Resource, Permission: rel.Relation, Subject: rel.Subject}
	if hasCtx {
		ctx, err := decodeObject(strings.TrimSpace(ctxText))
		if err != nil {
			return Assertion{}, fmt.Errorf("caveat context after ` with `: %v", err)
		}
		a.Context = ctx
	}
	return a, nil
}

// decodeObject decodes exactly one JSON object, keeping numbers in their literal form
// the way relationship contexts are kept.
func decodeObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected text after the JSON object")
	}
	return m, nil
}

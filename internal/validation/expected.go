package validation

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// ExpectedRelation is one entry of the `validation` block: a resource and permission
// with the exhaustive list of subjects that reach it.
type ExpectedRelation struct {
	File       string
	Line       int
	Resource   tuple.ObjectRef
	Permission string
	// Subjects lists every subject expected; empty means none may reach it.
	Subjects []ExpectedSubject
}

// Name returns "resource#permission".
func (e ExpectedRelation) Name() string { return e.Resource.String() + "#" + e.Permission }

// ObjectRelation is an object and one of its relations: where a subject was found.
type ObjectRelation struct {
	Object   tuple.ObjectRef
	Relation string
}

func (o ObjectRelation) String() string { return o.Object.String() + "#" + o.Relation }

// ExcludedSubject is a subject a wildcard does not cover.
type ExcludedSubject struct {
	Subject tuple.SubjectRef
	// Caveated marks an exclusion that holds only under a caveat.
	Caveated bool
}

func (e ExcludedSubject) String() string {
	if e.Caveated {
		return e.Subject.String() + "[...]"
	}
	return e.Subject.String()
}

// ExpectedSubject is one line of an expected relation:
//
//	[user:tom] is <document:firstdoc#writer>
//	[user:tom[...]] is <document:firstdoc#reader>/<group:eng#member>
//	[user:* - {user:banned}] is <document:firstdoc#viewer>
type ExpectedSubject struct {
	Line int
	// Text is the entry as written.
	Text    string
	Subject tuple.SubjectRef
	// Caveated marks a subject that reaches the permission only under a caveat.
	Caveated bool
	// Excluded lists the subjects a wildcard subject does not cover.
	Excluded []ExcludedSubject
	// Paths are the object relations on which the subject was found directly. When the
	// entry has no " is <...>" part, PathsGiven is false and paths are not compared.
	Paths      []ObjectRelation
	PathsGiven bool
}

// SubjectText renders the subject as the bracketed part of the entry writes it.
func (s ExpectedSubject) SubjectText() string {
	return subjectText(s.Subject, s.Caveated, s.Excluded)
}

func subjectText(sub tuple.SubjectRef, caveated bool, excluded []ExcludedSubject) string {
	var b strings.Builder
	b.WriteString(sub.String())
	if len(excluded) > 0 {
		parts := make([]string, len(excluded))
		for i, e := range excluded {
			parts[i] = e.String()
		}
		sort.Strings(parts)
		b.WriteString(" - {")
		b.WriteString(strings.Join(parts, ", "))
		b.WriteString("}")
	}
	if caveated {
		b.WriteString("[...]")
	}
	return b.String()
}

func (p *parser) parseExpected(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errs.add(n.Line, "`validation` must be a mapping from resource#permission to a list of expected subjects")
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		onr, err := parseObjectRelation(k.Value)
		if err != nil {
			p.errs.add(k.Line, "validation key %q: %v", k.Value, err)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			p.errs.add(k.Line, "validation key %q is given twice (first on line %d)", k.Value, prev)
			continue
		}
		seen[k.Value] = k.Line
		exp := ExpectedRelation{File: p.file.Path, Line: k.Line, Resource: onr.Object, Permission: onr.Relation}
		switch {
		case isNull(v):
		case v.Kind != yaml.SequenceNode:
			p.errs.add(v.Line, "validation entry %q must be a list of \"[subject] is <resource#relation>\" strings", k.Value)
			continue
		default:
			subjects := map[string]int{}
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					p.errs.add(item.Line, "each expected subject must be a string")
					continue
				}
				s, err := ParseExpectedSubject(item.Value)
				if err != nil {
					p.errs.add(item.Line, "expected subject %q: %v", item.Value, err)
					continue
				}
				s.Line = item.Line
				key := s.Subject.String()
				if prev, dup := subjects[key]; dup {
					p.errs.add(item.Line, "subject %s is listed twice for %s (first on line %d)", key, k.Value, prev)
					continue
				}
				subjects[key] = item.Line
				exp.Subjects = append(exp.Subjects, s)
			}
		}
		p.file.Expected = append(p.file.Expected, exp)
	}
}

// parseObjectRelation reads "type:id#relation".
func parseObjectRelation(s string) (ObjectRelation, error) {
	s = strings.TrimSpace(s)
	hash := strings.LastIndexByte(s, '#')
	if hash < 0 {
		return ObjectRelation{}, fmt.Errorf("missing #relation; write type:id#relation")
	}
	obj, err := tuple.ParseObject(s[:hash])
	if err != nil {
		return ObjectRelation{}, err
	}
	rel := s[hash+1:]
	if err := tuple.ValidateRelationName("relation", rel); err != nil {
		return ObjectRelation{}, err
	}
	return ObjectRelation{Object: obj, Relation: rel}, nil
}

// ParseExpectedSubject reads one expected-subject entry:
//
//	"[" subject [ " - {" excluded { ", " excluded } "}" ] [ "[...]" ] "]" [ " is " path { "/" path } ]
//	path := "<" type ":" id "#" relation ">"
func ParseExpectedSubject(text string) (ExpectedSubject, error) {
	s := strings.TrimSpace(text)
	out := ExpectedSubject{Text: s}
	if !strings.HasPrefix(s, "[") {
		return out, fmt.Errorf("must start with [subject]; write \"[type:id] is <type:id#relation>\"")
	}
	end := matchingBracket(s)
	if end < 0 {
		return out, fmt.Errorf("the [ before the subject is not closed")
	}
	if err := parseExpectedSubjectPart(s[1:end], &out); err != nil {
		return out, err
	}
	rest := strings.TrimSpace(s[end+1:])
	if rest == "" {
		return out, nil
	}
	pathsText, ok := strings.CutPrefix(rest, "is ")
	if !ok {
		return out, fmt.Errorf("expected \" is <type:id#relation>\" after the subject, found %q", rest)
	}
	pathsText = strings.TrimSpace(pathsText)
	if !strings.HasPrefix(pathsText, "<") || !strings.HasSuffix(pathsText, ">") {
		return out, fmt.Errorf("the relations after \"is\" must be written <type:id#relation>, separated by /")
	}
	out.PathsGiven = true
	for part := range strings.SplitSeq(pathsText[1:len(pathsText)-1], ">/<") {
		onr, err := parseObjectRelation(part)
		if err != nil {
			return out, fmt.Errorf("relation <%s>: %v", part, err)
		}
		out.Paths = append(out.Paths, onr)
	}
	return out, nil
}

// matchingBracket returns the index of the ] closing the [ at s[0], or -1.
func matchingBracket(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func parseExpectedSubjectPart(s string, out *ExpectedSubject) error {
	s = strings.TrimSpace(s)
	base, caveated := cutCaveatMarker(s)
	var exclText string
	hasExcl := false
	if i := strings.Index(base, " - {"); i >= 0 {
		if !strings.HasSuffix(base, "}") {
			return fmt.Errorf("the excluded subjects after \" - {\" are not closed with }")
		}
		exclText, hasExcl = base[i+4:len(base)-1], true
		base = strings.TrimSpace(base[:i])
	}
	sub, err := tuple.ParseSubject(base)
	if err != nil {
		return err
	}
	out.Subject, out.Caveated = sub, caveated
	if !hasExcl {
		return nil
	}
	if !sub.IsWildcard() {
		return fmt.Errorf("only a wildcard subject (type:*) can list excluded subjects")
	}
	for part := range strings.SplitSeq(exclText, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, c := cutCaveatMarker(part)
		ex, err := tuple.ParseSubject(name)
		if err != nil {
			return fmt.Errorf("excluded subject %q: %v", part, err)
		}
		out.Excluded = append(out.Excluded, ExcludedSubject{Subject: ex, Caveated: c})
	}
	return nil
}

// cutCaveatMarker removes a trailing "[...]", which marks a caveated subject.
func cutCaveatMarker(s string) (string, bool) {
	if rest, ok := strings.CutSuffix(s, "[...]"); ok {
		return strings.TrimSpace(rest), true
	}
	return s, false
}

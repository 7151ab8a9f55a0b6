package validation

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/explain"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Report is the outcome of RunFiles: one entry per data set, and totals.
type Report struct {
	Passed   bool              `json:"passed"`
	DataSets []*DataSetReport  `json:"data_sets"`
	Totals   map[string]*Count `json:"totals"`
}

// Count is how many checks of one kind ran and how many passed.
type Count struct {
	Total  int `json:"total"`
	Passed int `json:"passed"`
}

// DataSetReport is the outcome of one data set (usually one file).
type DataSetReport struct {
	Name       string    `json:"name"`
	Files      []string  `json:"files"`
	Passed     bool      `json:"passed"`
	LoadErrors ErrorList `json:"load_errors,omitempty"`
	Assertions Count     `json:"assertions"`
	Expected   Count     `json:"expected_relations"`
	// Results lists every assertion, then every expected relation.
	Results []Result `json:"results,omitempty"`
}

// Result is the outcome of one assertion or expected relation.
type Result struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// Kind is assertTrue, assertFalse, assertCaveated or validation.
	Kind string `json:"kind"`
	// Text is the assertion as written, or the expected relation's resource#permission.
	Text   string `json:"text"`
	Passed bool   `json:"passed"`
	// Answer is the engine's answer to an assertion: allowed, denied or conditional.
	Answer string `json:"answer,omitempty"`
	// MissingContext names the caveat parameters a conditional answer lacks.
	MissingContext []string `json:"missing_context,omitempty"`
	// Error is the engine's error, when it could not answer.
	Error string `json:"error,omitempty"`
	// Problems lists the differences between an expected relation and what the
	// engine found.
	Problems []string `json:"problems,omitempty"`
	// Explain is the engine's evaluation tree for a failed assertion.
	Explain *explain.Node `json:"explain,omitempty"`
}

func newDataSetReport(d *DataSet) *DataSetReport {
	return &DataSetReport{Name: d.Name(), Files: fileNames(d)}
}

func fileNames(d *DataSet) []string {
	names := make([]string, len(d.Files))
	for i, f := range d.Files {
		names[i] = f.Path
	}
	return names
}

func (r *Report) summarise() {
	r.Totals = map[string]*Count{"data_sets": {}, "assertions": {}, "expected_relations": {}}
	r.Passed = len(r.DataSets) > 0
	for _, d := range r.DataSets {
		r.Totals["data_sets"].Total++
		if d.Passed {
			r.Totals["data_sets"].Passed++
		} else {
			r.Passed = false
		}
		r.Totals["assertions"].Total += d.Assertions.Total
		r.Totals["assertions"].Passed += d.Assertions.Passed
		r.Totals["expected_relations"].Total += d.Expected.Total
		r.Totals["expected_relations"].Passed += d.Expected.Passed
	}
}

// Write prints the report as text or, with opts.JSON, as indented JSON.
func (r *Report) Write(w io.Writer, opts Options) error {
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	}
	var b strings.Builder
	for _, d := range r.DataSets {
		d.writeText(&b, opts.Verbose)
	}
	t := r.Totals
	fmt.Fprintf(&b, "%d of %d data sets passed; %d of %d assertions, %d of %d expected relations\n",
		t["data_sets"].Passed, t["data_sets"].Total, t["assertions"].Passed, t["assertions"].Total,
		t["expected_relations"].Passed, t["expected_relations"].Total)
	_, err := io.WriteString(w, b.String())
	return err
}

func (d *DataSetReport) writeText(b *strings.Builder, verbose bool) {
	if len(d.LoadErrors) > 0 {
		fmt.Fprintf(b, "ERROR %s: cannot be loaded\n", d.Name)
		for _, e := range d.LoadErrors {
			fmt.Fprintf(b, "  %s\n", e)
			if e.Source != "" {
				fmt.Fprintf(b, "      %s\n", e.Source)
			}
		}
		return
	}
	status := "ok  "
	if !d.Passed {
		status = "FAIL"
	}
	fmt.Fprintf(b, "%s  %s: %d/%d assertions, %d/%d expected relations passed\n", status, d.Name,
		d.Assertions.Passed, d.Assertions.Total, d.Expected.Passed, d.Expected.Total)
	for _, r := range d.Results {
		if r.Passed && !verbose {
			continue
		}
		r.writeText(b)
	}
}

func (r Result) writeText(b *strings.Builder) {
	mark := "PASS"
	if !r.Passed {
		mark = "FAIL"
	}
	fmt.Fprintf(b, "  %s %s:%d: %s %s\n", mark, r.File, r.Line, r.Kind, r.Text)
	if r.Passed {
		return
	}
	if r.Error != "" {
		fmt.Fprintf(b, "       error: %s\n", r.Error)
	}
	if r.Answer != "" {
		fmt.Fprintf(b, "       answer: %s", r.Answer)
		if len(r.MissingContext) > 0 {
			fmt.Fprintf(b, " (missing context: %s)", strings.Join(r.MissingContext, ", "))
		}
		b.WriteString("\n")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(b, "       %s\n", p)
	}
	if r.Explain != nil {
		b.WriteString("       explain:\n")
		lines := 0
		writeExplainTree(b, r.Explain, "         ", "", &lines)
	}
}

// explainNode converts the engine's explanation to the printable shape `pemba check
// --explain` prints too.
func explainNode(n *engine.ExplainNode) *explain.Node {
	if n == nil {
		return nil
	}
	out := &explain.Node{
		Kind: n.Kind.String(), Relation: n.Relation, Expression: n.Expression, Result: n.Result.String(),
		Caveat: n.Caveat, MissingContext: n.MissingContext, Cached: n.Cached, DurationMS: explain.Milliseconds(n.Duration),
	}
	if n.Resource != (tuple.ObjectRef{}) {
		out.Resource = n.Resource.String()
	}
	if n.Subject != (tuple.SubjectRef{}) {
		out.Subject = n.Subject.String()
	}
	if n.Relationship != nil {
		out.Relationship = explain.NewRelationship(*n.Relationship)
	}
	for _, c := range n.Children {
		out.Children = append(out.Children, explainNode(c))
	}
	return out
}

// maxExplainLines bounds the explanation printed for one failure; a check over a
// large data set can visit thousands of nodes.
const maxExplainLines = 60

func explainLabel(n *explain.Node) string {
	var b strings.Builder
	if n.Kind == "paradox" {
		// The node stands for the subtracted side; its result is what the
		// exclusion counts that side as.
		fmt.Fprintf(&b, "paradox: %s, subtracted in %s#%s, depends on its own negation: counted as %s", n.Expression, n.Resource, n.Relation, n.Result)
		return b.String()
	}
	if n.Kind == "dependency" {
		// A condition of a delegated grant: denied means the grant does not count.
		fmt.Fprintf(&b, "while %s: %s#%s@%s: %s", n.Expression, n.Resource, n.Relation, n.Subject, n.Result)
		return b.String()
	}
	b.WriteString(n.Kind)
	switch {
	case n.Relationship != nil:
		b.WriteString(" " + n.Relationship.Text)
	case n.Resource != "" && n.Relation != "":
		b.WriteString(" " + n.Resource + "#" + n.Relation)
	case n.Resource != "":
		b.WriteString(" " + n.Resource)
	}
	if n.Expression != "" {
		b.WriteString(" = " + n.Expression)
	}
	if n.Caveat != "" {
		b.WriteString(" " + n.Caveat)
	}
	b.WriteString(": " + n.Result)
	if len(n.MissingContext) > 0 {
		b.WriteString(" (missing " + strings.Join(n.MissingContext, ", ") + ")")
	}
	if n.Cached {
		b.WriteString(" [cached]")
	}
	return b.String()
}

func writeExplainTree(b *strings.Builder, n *explain.Node, indent, branch string, lines *int) {
	if *lines >= maxExplainLines {
		return
	}
	*lines++
	b.WriteString(indent + branch + explainLabel(n) + "\n")
	childIndent := indent
	switch branch {
	case "├─ ":
		childIndent += "│  "
	case "└─ ":
		childIndent += "   "
	}
	for i, c := range n.Children {
		if *lines >= maxExplainLines {
			fmt.Fprintf(b, "%s… (%d more nodes not shown)\n", childIndent, countNodes(n.Children[i:]))
			*lines++
			return
		}
		br := "├─ "
		if i == len(n.Children)-1 {
			br = "└─ "
		}
		writeExplainTree(b, c, childIndent, br, lines)
	}
}

func countNodes(ns []*explain.Node) int {
	total := 0
	for _, n := range ns {
		total += 1 + countNodes(n.Children)
	}
	return total
}

package schema

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFormatGolden formats every testdata/format/*.zed file and compares the result
// with the .golden file beside it (rewritten with -update).
func TestFormatGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/format/*.zed")
	if err != nil || len(files) == 0 {
		t.Fatalf("no format fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Compile(filepath.Base(f), string(src))
			if err != nil {
				t.Fatal(err)
			}
			got := Format(s)
			golden := strings.TrimSuffix(f, ".zed") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run go test -run TestFormatGolden -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("formatted text differs from %s\n--- got ---\n%s--- want ---\n%s", golden, got, want)
			}
			checkRoundTrip(t, f, s)
			checkComments(t, f, string(src), got, !hasMovingStatements(string(src)))
		})
	}
}

// sourceComments lists the comments of src outside caveat bodies, in order, with the
// indentation of every line removed (the formatter re-indents).
func sourceComments(src string) []string {
	f := parse("", src, newDiagnostics("", src))
	out := make([]string, len(f.Comments))
	for i, c := range f.Comments {
		lines := strings.Split(c.Text, "\n")
		for j, l := range lines {
			lines[j] = strings.TrimSpace(l)
		}
		out[i] = strings.Join(lines, "\n")
	}
	return out
}

// sameComment reports whether the formatter's comment b is the source comment a: the
// same text, or a doc comment it moved out of a statement, written with one `*`.
func sameComment(a, b string) bool {
	return a == b || strings.HasPrefix(a, "/**") && b == "/*"+strings.TrimPrefix(a, "/**")
}

// checkComments asserts that every comment of src is in formatted, in the same order
// when ordered is set (the canonical form moves `use` to the top and grant rules to
// the end of their definition, with their comments), and that formatting formatted
// again changes nothing.
func checkComments(t *testing.T, name, src, formatted string, ordered bool) {
	t.Helper()
	before, after := sourceComments(src), sourceComments(formatted)
	if len(before) != len(after) {
		t.Errorf("%s: %d comments before formatting, %d after\n--- formatted ---\n%s", name, len(before), len(after), formatted)
		return
	}
	if ordered {
		for i := range before {
			if !sameComment(before[i], after[i]) {
				t.Errorf("%s: comment %d is %q before formatting and %q after", name, i+1, before[i], after[i])
				return
			}
		}
	} else {
		norm := func(list []string) []string {
			out := make([]string, len(list))
			for i, c := range list {
				out[i] = strings.Replace(c, "/**", "/*", 1)
			}
			slices.Sort(out)
			return out
		}
		if !slices.Equal(norm(before), norm(after)) {
			t.Errorf("%s: comments changed by formatting:\n%q\n%q", name, before, after)
		}
	}
	s, err := Compile(name+" (formatted)", formatted)
	if err != nil {
		t.Errorf("%s: formatted text does not compile: %v", name, err)
		return
	}
	if again := Format(s); again != formatted {
		t.Errorf("%s: formatting is not idempotent:\n%s\n--- then ---\n%s", name, formatted, again)
	}
}

// TestFormatKeepsCommentsCorpus formats every compiling schema of the conformance
// corpus, the docs and the reference schema, and checks that every comment survives
// in order and that formatting is idempotent.
func TestFormatKeepsCommentsCorpus(t *testing.T) {
	type named struct{ name, src string }
	var all []named
	for _, cs := range corpusSchemas(t) {
		all = append(all, named{cs.Path, cs.Schema})
	}
	docs, err := os.ReadFile("../../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range regexp.MustCompile("(?s)```zed\n(.*?)```").FindAllStringSubmatch(string(docs), -1) {
		all = append(all, named{"docs/schema.md example " + itoa(int64(i+1)), b[1]})
	}
	ref, err := os.ReadFile(referenceSchema)
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, named{referenceSchema, string(ref)})
	comments := 0
	for _, n := range all {
		s, err := Compile(n.name, n.src)
		if err != nil {
			continue // the must-fail corpus files
		}
		comments += len(sourceComments(n.src))
		checkComments(t, n.name, n.src, Format(s), !hasMovingStatements(n.src))
	}
	if comments < 50 {
		t.Errorf("only %d comments in the corpus; the test proves little", comments)
	}
	t.Logf("%d schemas, %d comments kept", len(all), comments)
}

// hasMovingStatements reports whether the canonical form may move a statement: a
// rule before a relation or permission of its definition, an approval rule before a
// grant rule, or `use` after a definition or caveat.
func hasMovingStatements(src string) bool {
	f := parse("", src, newDiagnostics("", src))
	for _, u := range f.Uses {
		if len(f.Order) > 0 && before(topPos(f.Order[0]), u.Pos) {
			return true
		}
	}
	for _, d := range f.Definitions {
		// Canonical order: relations and permissions, grant rules, approval rules.
		rank := func(m astMember) int {
			switch m.(type) {
			case *astGrant:
				return 1
			case *astApproval:
				return 2
			}
			return 0
		}
		for i := 1; i < len(d.Members); i++ {
			if rank(d.Members[i]) < rank(d.Members[i-1]) {
				return true
			}
		}
	}
	return false
}

func topPos(it astTopLevel) Position {
	if d, ok := it.(*astDefinition); ok {
		return d.Pos
	}
	return it.(*astCaveat).Pos
}

// referenceSchema is the B2B reference schema, which must stay in canonical form.
const referenceSchema = "../../schema/b2b-ciam/schema.zed"

// TestReferenceSchemaCanonical fails when schema/b2b-ciam/schema.zed drifts from the
// canonical form: run `pemba schema fmt -w schema/b2b-ciam/schema.zed`.
func TestReferenceSchemaCanonical(t *testing.T) {
	src, err := os.ReadFile(referenceSchema)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile("schema.zed", string(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := Format(s); got != string(src) {
		t.Errorf("%s is not in canonical form; run `pemba schema fmt -w %s`\n--- canonical ---\n%s", referenceSchema, referenceSchema, got)
	}
}

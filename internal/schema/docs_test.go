package schema

import (
	"os"
	"regexp"
	"testing"
)

// TestDocsExamplesCompile keeps docs/schema.md honest: every ```zed block in it must
// compile.
func TestDocsExamplesCompile(t *testing.T) {
	data, err := os.ReadFile("../../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```zed\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) < 3 {
		t.Fatalf("found only %d zed examples", len(blocks))
	}
	for i, b := range blocks {
		if _, err := Compile("docs/schema.md example", b[1]); err != nil {
			t.Errorf("example %d does not compile:\n%v\n%s", i+1, err, b[1])
		}
	}
}

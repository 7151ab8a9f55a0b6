package validation

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsExample runs the first example of docs/validate.md, and the variant the
// page shows failing, and compares the output with the page.
func TestDocsExample(t *testing.T) {
	page, err := os.ReadFile("../../docs/validate.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(page)
	start := strings.Index(text, "```yaml\n")
	if start < 0 {
		t.Fatal("docs/validate.md has no yaml example")
	}
	start += len("```yaml\n")
	example := text[start : start+strings.Index(text[start:], "```")]
	dir := t.TempDir()
	run := func(yaml string) string {
		path := filepath.Join(dir, "org.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := RunFiles(context.Background(), []string{path}, &out, Options{}); err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(out.String(), path, "org.yaml")
	}
	if got := run(example); !strings.Contains(text, got) {
		t.Errorf("the page does not show the example's output:\n%s", got)
	}
	bad := strings.Replace(example, `    - "[user:bob] is <group:ops#member>"`, `    - "[user:erin] is <org:emea#admin>"`, 1)
	if bad == example {
		t.Fatal("the example no longer lists user:bob")
	}
	if got := run(bad); !strings.Contains(text, got) {
		t.Errorf("the page does not show the failing variant's output:\n%s", got)
	}
}

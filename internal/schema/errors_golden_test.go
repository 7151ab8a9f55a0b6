package schema

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/errors")

// TestErrorGolden compiles every testdata/errors/*.zed file and compares the full
// error text with the .golden file beside it. Run with -update to rewrite them after
// reading the diff.
func TestErrorGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.zed")
	if err != nil || len(files) == 0 {
		t.Fatalf("no error fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, cerr := Compile(filepath.Base(f), string(src))
			if cerr == nil {
				t.Fatal("compiled without errors; every fixture here must fail")
			}
			got := cerr.Error() + "\n"
			golden := strings.TrimSuffix(f, ".zed") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run go test -run TestErrorGolden -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("error text differs from %s\n--- got ---\n%s--- want ---\n%s", golden, got, want)
			}
		})
	}
}

package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	validateBinOnce sync.Once
	validateBin     string
	validateBinErr  error
)

// pembaBinary builds cmd/pemba once per test run, so the tests drive the real binary.
func pembaBinary(t *testing.T) string {
	t.Helper()
	validateBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pemba-validate-test")
		if err != nil {
			validateBinErr = err
			return
		}
		validateBin = filepath.Join(dir, "pemba")
		out, err := exec.Command("go", "build", "-o", validateBin, "../../cmd/pemba").CombinedOutput()
		if err != nil {
			validateBinErr = errors.New(string(out))
		}
	})
	if validateBinErr != nil {
		t.Fatalf("building pemba: %v", validateBinErr)
	}
	return validateBin
}

func runPemba(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(pembaBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running pemba: %v", err)
	}
	return out.String(), errb.String(), code
}

func TestValidateCommand(t *testing.T) {
	cases := []struct {
		name        string
		args        []string
		code        int
		stdout      []string
		stderr      string
		notInStdout string
	}{
		{"passing file", []string{"validate", "testdata/validate/pass.yaml"}, 0,
			[]string{"ok    testdata/validate/pass.yaml: 8/8 assertions", "1 of 1 data sets passed; 8 of 8 assertions"}, "", "FAIL"},
		{"verbose lists passing assertions", []string{"validate", "-v", "testdata/validate/pass.yaml"}, 0,
			[]string{"PASS testdata/validate/pass.yaml:41: assertTrue org:emea#manage@user:alice"}, "", ""},
		{"failing assertion", []string{"validate", "testdata/validate/fail.yaml", "testdata/validate/pass.yaml"}, 1,
			[]string{
				"FAIL  testdata/validate/fail.yaml: 1/3 assertions",
				"FAIL testdata/validate/fail.yaml:21: assertTrue document:d#view@user:tom\n       answer: denied\n       explain:",
				"answer: conditional (missing context: x)",
				"1 of 2 data sets passed",
			}, "", ""},
		{"load error wins over failures", []string{"validate", "testdata/validate/fail.yaml", "testdata/validate/broken.yaml"}, 2,
			[]string{"ERROR testdata/validate/broken.yaml: cannot be loaded", "testdata/validate/broken.yaml:8: relationship document:a#editor@user:tom: relation `editor` not found on definition `document`"}, "", ""},
		{"missing file", []string{"validate", "testdata/validate/nope.yaml"}, 2,
			[]string{"testdata/validate/nope.yaml: cannot read the file"}, "", ""},
		{"no file", []string{"validate"}, 2, nil, "validate needs at least one validation file", ""},
		{"bad output format", []string{"validate", "-o", "yaml", "testdata/validate/pass.yaml"}, 2, nil, `--output "yaml" is not a format`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runPemba(t, c.args...)
			if code != c.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			for _, want := range c.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if c.notInStdout != "" && strings.Contains(stdout, c.notInStdout) {
				t.Errorf("stdout contains %q:\n%s", c.notInStdout, stdout)
			}
			if c.stderr != "" && !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, stderr)
			}
		})
	}
}

func TestValidateCommandJSON(t *testing.T) {
	stdout, stderr, code := runPemba(t, "validate", "-o", "json", "testdata/validate/fail.yaml")
	if code != 1 || stderr != "" {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	var rep struct {
		Passed   bool `json:"passed"`
		DataSets []struct {
			Name    string `json:"name"`
			Results []struct {
				Line    int             `json:"line"`
				Kind    string          `json:"kind"`
				Passed  bool            `json:"passed"`
				Answer  string          `json:"answer"`
				Explain json.RawMessage `json:"explain"`
			} `json:"results"`
		} `json:"data_sets"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if rep.Passed || len(rep.DataSets) != 1 || len(rep.DataSets[0].Results) != 3 {
		t.Fatalf("report = %+v", rep)
	}
	r := rep.DataSets[0].Results[0]
	if r.Passed || r.Line != 21 || r.Kind != "assertTrue" || r.Answer != "denied" || !bytes.Contains(r.Explain, []byte(`"kind": "permission"`)) {
		t.Fatalf("first result = %+v (explain %s)", r, r.Explain)
	}
}

func TestValidateCommandCombine(t *testing.T) {
	dir := "../testdata/conformance/spicedb/validationfile/"
	if _, _, code := runPemba(t, "validate", dir+"just_rels.yaml", dir+"initial_schema_and_rels.yaml"); code != 2 {
		t.Errorf("separately: exit code %d, want 2 (just_rels has no schema)", code)
	}
	stdout, _, code := runPemba(t, "validate", "--combine", dir+"just_rels.yaml", dir+"initial_schema_and_rels.yaml")
	if code != 0 || !strings.Contains(stdout, "just_rels.yaml + "+dir+"initial_schema_and_rels.yaml: 0/0 assertions") {
		t.Errorf("combined: exit code %d\n%s", code, stdout)
	}
}

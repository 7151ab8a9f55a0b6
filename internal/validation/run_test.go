package validation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunFilesPassing(t *testing.T) {
	var out bytes.Buffer
	passed, err := RunFiles(context.Background(), []string{"testdata/passing.yaml"}, &out, Options{Verbose: true})
	if err != nil || !passed {
		t.Fatalf("passed=%v err=%v\n%s", passed, err, out.String())
	}
	for _, want := range []string{
		"ok    testdata/passing.yaml: 8/8 assertions, 0/0 expected relations passed",
		"PASS testdata/passing.yaml:41: assertTrue org:emea#manage@user:alice",
		"PASS testdata/passing.yaml:46: assertCaveated org:emea#manage@user:dave",
		"1 of 1 data sets passed; 8 of 8 assertions, 0 of 0 expected relations",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunFilesFailing(t *testing.T) {
	var out bytes.Buffer
	passed, err := RunFiles(context.Background(), []string{"testdata/failing.yaml", "testdata/passing.yaml"}, &out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if passed {
		t.Fatalf("a failing file passed:\n%s", out.String())
	}
	text := out.String()
	for _, want := range []string{
		"FAIL  testdata/failing.yaml: 1/3 assertions, 0/0 expected relations passed",
		"FAIL testdata/failing.yaml:21: assertTrue document:d#view@user:tom\n       answer: denied\n       explain:\n",
		"relationship document:d#banned@user:tom: allowed",
		"cycle group:a#member: denied",
		"FAIL testdata/failing.yaml:22: assertTrue document:d#view@user:sam\n       answer: conditional (missing context: x)",
		"ok    testdata/passing.yaml: 8/8",
		"1 of 2 data sets passed; 9 of 11 assertions",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "assertFalse document:d#view@user:zed") {
		t.Errorf("a passing assertion is listed without Verbose:\n%s", text)
	}
}

func TestRunFilesJSON(t *testing.T) {
	var out bytes.Buffer
	passed, err := RunFiles(context.Background(), []string{"testdata/failing.yaml", "testdata/missing.yaml"}, &out, Options{JSON: true})
	var list ErrorList
	if passed || !errors.As(err, &list) || list[0].File != "testdata/missing.yaml" {
		t.Fatalf("passed=%v err=%v", passed, err)
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if rep.Passed || len(rep.DataSets) != 2 || rep.Totals["assertions"].Total != 3 || rep.Totals["assertions"].Passed != 1 {
		t.Fatalf("report = %+v", rep)
	}
	var failing, missing *DataSetReport
	for _, d := range rep.DataSets {
		switch d.Name {
		case "testdata/failing.yaml":
			failing = d
		case "testdata/missing.yaml":
			missing = d
		}
	}
	if missing == nil || len(missing.LoadErrors) != 1 || !strings.Contains(missing.LoadErrors[0].Msg, "cannot read the file") {
		t.Fatalf("missing file report = %+v", missing)
	}
	r := failing.Results[1]
	if r.Passed || r.Line != 22 || r.Answer != "conditional" || len(r.MissingContext) != 1 || r.MissingContext[0] != "x" || r.Explain == nil || r.Explain.Kind != "permission" {
		t.Fatalf("result = %+v", r)
	}
}

// TestRunFilesParadox runs the paradox cases of issue 17 through RunFiles, what
// `pemba validate` runs: every paradox is denied, and a failed assertion on one
// shows the paradox and its cycle in the explanation.
func TestRunFilesParadox(t *testing.T) {
	var out bytes.Buffer
	passed, err := RunFiles(context.Background(), []string{"testdata/paradox.yaml"}, &out, Options{})
	if err != nil || !passed {
		t.Fatalf("passed=%v err=%v\n%s", passed, err, out.String())
	}
	if want := "ok    testdata/paradox.yaml: 13/13 assertions"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	text, err := os.ReadFile("testdata/paradox.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong.yaml")
	claim := strings.Replace(string(text), "assertTrue:\n", "assertTrue:\n    - group:a#member@user:jon\n", 1)
	if err := os.WriteFile(wrong, []byte(claim), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if passed, err := RunFiles(context.Background(), []string{wrong}, &out, Options{}); err != nil || passed {
		t.Fatalf("a false claim passed: passed=%v err=%v", passed, err)
	}
	for _, want := range []string{
		"assertTrue group:a#member@user:jon\n       answer: denied\n",
		"paradox: blocked, subtracted in group:a#member, depends on its own negation: counted as allowed",
		"relationship group:b#direct@group:a#member: denied",
		"cycle group:a#member: denied",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunFilesCombine(t *testing.T) {
	dir := loaderDir + "/"
	var out bytes.Buffer
	passed, err := RunFiles(context.Background(), []string{dir + "just_rels.yaml", dir + "initial_schema_and_rels.yaml"}, &out, Options{Combine: true})
	if err != nil || !passed {
		t.Fatalf("passed=%v err=%v\n%s", passed, err, out.String())
	}
	out.Reset()
	passed, err = RunFiles(context.Background(), []string{dir + "just_rels.yaml", dir + "initial_schema_and_rels.yaml"}, &out, Options{})
	if err == nil || passed || !strings.Contains(err.Error(), "definition `example/project` not found") {
		t.Fatalf("separately: passed=%v err=%v", passed, err)
	}
}

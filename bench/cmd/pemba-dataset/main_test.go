package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/bench/dataset"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestWritesTheParsableDatasetItPrints(t *testing.T) {
	var a, b, errs bytes.Buffer
	if err := run([]string{"--size", "5000", "--seed", "3"}, &a, &errs); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "d.txt")
	if err := run([]string{"--size", "5000", "--seed", "3", "--out", out}, &b, &errs); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), file) || a.Len() == 0 {
		t.Fatal("standard output and --out differ")
	}
	lines := strings.Split(strings.TrimSpace(a.String()), "\n")
	for _, l := range lines {
		if _, err := tuple.Parse(l); err != nil {
			t.Fatal(err)
		}
	}
	if len(lines) < 4000 || len(lines) > 6000 {
		t.Errorf("--size 5000 wrote %d relationships", len(lines))
	}
	var pj bytes.Buffer
	if err := run([]string{"--size", "5000", "--seed", "3", "--print-params"}, &pj, &errs); err != nil {
		t.Fatal(err)
	}
	var p dataset.Params
	if err := json.Unmarshal(pj.Bytes(), &p); err != nil || p.Seed != 3 || p.Trees < 2 {
		t.Fatalf("params %+v, %v", p, err)
	}
	// The printed parameters reproduce the dataset.
	pf := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(pf, pj.Bytes(), 0o644)
	var c bytes.Buffer
	if err := run([]string{"--params", pf}, &c, &errs); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("--params with the printed parameters gives another dataset")
	}
	if err := run([]string{"--params", pf, "--depth", "3"}, &c, &errs); err == nil {
		t.Fatal("--params combined with --depth is accepted")
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRendersTablesAndJudgesTargets(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"testdata/bolt-1m.json"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"#### bolt, 1.0M relationships",
		"Import: 1002697 relationships in 8.0 s = **125337/s**",
		"**249 bytes per relationship**",
		"| check | 12000 | 2.00 / 8.00 | 60.0% |",
		"| bolt: check minimize_latency ≥ 50% of health | 60.0% (12000 of 20000 qps) | yes |",
		"| bolt: check minimize_latency p99 ≤ 10 ms | 8.00 ms | yes |",
		"| bolt: check fully_consistent ≥ 25% | 20.0% (4000 of 20000 qps) | no |",
		"| bolt: depth-16 check costs ≤ 1.5× depth-2 (c=32) | 2.00× (500 vs 1000 qps; mean 2.00 vs 1.00 ms; 0 and 0 distinct questions) | no |",
		"| lookup_resources_1k | all 3 failed |",
		"| bolt: LookupResources of ~10k ≤ 100 ms (c=32, p50 / p99) | all 4 requests failed: timeout | no |",
		"| bolt: import ≥ 100k/s | 125337/s | yes |",
		"| bolt: RSS ≤ 300 B per relationship after a sweep | 249 B | yes |",
		"| verified answers: zero mismatches (all runs) | 2 | no |",
		"lookup_resources_10k: skipped: none",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
	if err := run(nil, &out); err == nil {
		t.Error("no arguments accepted")
	}
	if err := run([]string{"testdata/missing.json"}, &out); err == nil {
		t.Error("a missing file is accepted")
	}
}

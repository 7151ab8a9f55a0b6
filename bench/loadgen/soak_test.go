package loadgen

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/bench/dataset"
)

// TestSoakMixVerifiesEveryKindOfRequest runs the soak's mix in order against a real
// server: the tally counts each kind in its proportion, and every check, lookup and
// write (with the check of its effect) agrees with the oracle.
func TestSoakMixVerifiesEveryKindOfRequest(t *testing.T) {
	s := loadedSuite(t)
	var tally Tally
	prep, err := s.PrepareSoak(2, &tally)
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	res, err := Run(context.Background(), "soak", 2, Bounds{Duration: 5 * time.Minute, Count: n, RequestTimeout: 30 * time.Second}, prep.Op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != n || res.Errors != 0 || res.Mismatches != 0 {
		t.Fatalf("%d requests, %d errors %v, %d mismatches %v", res.Requests, res.Errors, res.ErrorExamples, res.Mismatches, res.MismatchExamples)
	}
	writes, lookups := uint64(n/SoakWriteEvery), uint64(n/SoakLookupEvery)
	if tally.Requests.Load() != n || tally.Writes.Load() != writes || tally.Lookups.Load() != lookups || tally.Checks.Load() != n-writes-lookups {
		t.Errorf("tally: %d requests, %d checks, %d writes, %d lookups; want %d, %d, %d, %d", tally.Requests.Load(), tally.Checks.Load(),
			tally.Writes.Load(), tally.Lookups.Load(), n, n-writes-lookups, writes, lookups)
	}
	if tally.Errors.Load() != 0 || tally.Mismatches.Load() != 0 {
		t.Errorf("tally: %d errors, %d mismatches", tally.Errors.Load(), tally.Mismatches.Load())
	}
}

// TestSoakTallyCountsWrongAnswers proves the soak sees wrong answers: the mix of
// another seed's dataset, asked of a server holding seed 1, meets answers its oracle
// does not expect, and the tally counts each one the run counts.
func TestSoakTallyCountsWrongAnswers(t *testing.T) {
	s := loadedSuite(t)
	p := s.Model.Params()
	p.Seed = 2
	other := &Suite{Model: dataset.MustModel(p), Client: s.Client, PoolSize: s.PoolSize, PageSize: s.PageSize}
	var tally Tally
	prep, err := other.PrepareSoak(2, &tally)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), "soak", 2, Bounds{Duration: 5 * time.Minute, Count: 300, RequestTimeout: 30 * time.Second}, prep.Op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mismatches == 0 {
		t.Fatal("questions of another dataset all matched the server's answers")
	}
	if tally.Mismatches.Load() != res.Mismatches || tally.Errors.Load() != res.Errors || tally.Requests.Load() != res.Requests {
		t.Errorf("tally %d mismatches, %d errors, %d requests; the run counted %d, %d, %d",
			tally.Mismatches.Load(), tally.Errors.Load(), tally.Requests.Load(), res.Mismatches, res.Errors, res.Requests)
	}
}

// TestPacedRunKeepsToItsSchedule checks the pacer's promise: request i never starts
// before i/rate seconds into the run, so a run of d seconds starts at most rate*d
// requests, whichever worker takes them.
func TestPacedRunKeepsToItsSchedule(t *testing.T) {
	const rate, conc = 400.0, 4
	var mu sync.Mutex
	var late []string
	start := time.Now()
	op := func(_ context.Context, _ int, i int64) Outcome {
		due := time.Duration(float64(i) / rate * float64(time.Second))
		if since := time.Since(start); since < due {
			mu.Lock()
			late = append(late, since.String()+" < "+due.String())
			mu.Unlock()
		}
		return Outcome{}
	}
	d := 500 * time.Millisecond
	res, err := Run(context.Background(), "paced", conc, Bounds{Duration: d, RequestTimeout: time.Second, Rate: rate}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Requests > uint64(rate*d.Seconds()) {
		t.Errorf("%d requests in a %s run paced at %v/s: want 1 to %v", res.Requests, d, rate, rate*d.Seconds())
	}
	if len(late) > 0 {
		t.Errorf("%d requests started ahead of their time, e.g. %s", len(late), late[0])
	}
}

func TestPacedRunBounds(t *testing.T) {
	for _, b := range []Bounds{
		{Duration: time.Second, RequestTimeout: time.Second, Rate: -1},
		{Duration: MaxPacedDuration + time.Second, RequestTimeout: time.Second, Rate: 10},
	} {
		if err := b.Validate(); err == nil {
			t.Errorf("bounds %+v accepted", b)
		}
	}
	if err := (Bounds{Duration: time.Hour, RequestTimeout: time.Second, Rate: 10}).Validate(); err != nil {
		t.Errorf("an hour-long paced run is refused: %v", err)
	}
}

// samples builds a series of RSS samples, one every 10 s, from MiB values.
func samples(mib ...float64) []MemorySample {
	out := make([]MemorySample, len(mib))
	for i, m := range mib {
		out[i] = MemorySample{Seconds: float64(10 * i), RSSBytes: uint64(m * (1 << 20))}
	}
	return out
}

func TestJudgeMemory(t *testing.T) {
	for _, tc := range []struct {
		name          string
		samples       []MemorySample
		judged, pass  bool
		median        uint64
		drift, growth float64
	}{
		{"flat", samples(500, 100, 200, 200, 210, 190, 205), true, true, 200 << 20, 5, 2.5},
		// The warm-up (the first three samples, up to 20 s) is left out, however high.
		{"spike in warm-up only", samples(900, 900, 200, 200, 200, 200), true, true, 200 << 20, 0, 0},
		{"growth past the bound", samples(0, 0, 100, 100, 105, 110, 125), true, false, 105 << 20, 100 * 20.0 / 105, 25},
		{"drop past the bound", samples(0, 0, 200, 200, 200, 170), true, false, 200 << 20, 15, -15},
		{"exactly at the bound", samples(0, 0, 100, 100, 110, 90), true, true, 100 << 20, 10, -10},
		{"too short to judge", samples(100, 100, 100, 100), false, false, 100 << 20, 0, 0},
		{"nothing after the warm-up", samples(100, 100), false, false, 0, 0, 0},
	} {
		v := JudgeMemory(tc.samples, 20*time.Second, 0.10)
		if v.Judged != tc.judged || v.Pass != tc.pass || v.MedianBytes != tc.median ||
			!near(v.DriftPct, tc.drift) || !near(v.GrowthPct, tc.growth) {
			t.Errorf("%s: judged %v pass %v median %d drift %.2f growth %.2f; want %v %v %d %.2f %.2f",
				tc.name, v.Judged, v.Pass, v.MedianBytes, v.DriftPct, v.GrowthPct, tc.judged, tc.pass, tc.median, tc.drift, tc.growth)
		}
		if !strings.Contains(v.Rule, "within 10% of the median") {
			t.Errorf("%s: rule %q", tc.name, v.Rule)
		}
	}
}

func near(a, b float64) bool { return a-b < 0.01 && b-a < 0.01 }

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []uint64
		want uint64
	}{{[]uint64{3}, 3}, {[]uint64{5, 1, 3}, 3}, {[]uint64{4, 1, 3, 2}, 2}, {[]uint64{1, 2}, 1}, {[]uint64{3, 5}, 4}, {[]uint64{1<<63 + 1, 1<<63 + 1}, 1<<63 + 1}} {
		in := slices.Clone(tc.xs)
		if got := median(tc.xs); got != tc.want || !slices.Equal(in, tc.xs) {
			t.Errorf("median(%v) = %d (input now %v), want %d", in, got, tc.xs, tc.want)
		}
	}
}

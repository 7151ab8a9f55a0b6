package loadgen

import (
	"context"
	"fmt"
	"sync/atomic"
)

// The soak's mix: of every SoakWriteEvery requests one is a write (plus the check of
// its effect), of every SoakLookupEvery one is a LookupResources; the rest are checks
// of the realistic mix.
const (
	SoakWriteEvery  = 100
	SoakLookupEvery = 50
)

// Tally counts, while a run goes on, what its requests did, so a sampler can read
// the totals at any moment. Every field is safe to read during the run.
type Tally struct {
	Requests, Errors, Mismatches atomic.Uint64
	Checks, Writes, Lookups      atomic.Uint64
}

// PrepareSoak readies the soak's mixed load for conc workers: checks of the
// realistic mix (minimize_latency), writes verified by an at_least_as_fresh check
// (as in mixed_rw, to users of their own), and LookupResources of users who see 10 to
// 100 documents. Every answer is compared with the oracle's, and the tally counts
// each request as it ends.
func (s *Suite) PrepareSoak(conc int, t *Tally) (*Prepared, error) {
	qs := s.Model.RandomChecks(s.stream(), s.PoolSize)
	read := s.checkOp(qs, minimizeLatency)
	probe, err := newWriteProbe(s, qs, conc, "soakwriter", "benchmark soak")
	if err != nil {
		return nil, err
	}
	// The writers' users see no lookup's documents, so the lookups' answers stay
	// true while they write.
	lqs := s.Model.LookupResourcesQueries(s.stream(), 10, 100, 20, 4000)
	if len(lqs) == 0 {
		return nil, fmt.Errorf("%w: no user of this dataset sees 10 to 100 documents", ErrSkip)
	}
	op := func(ctx context.Context, w int, i int64) Outcome {
		var o Outcome
		switch {
		case i%SoakWriteEvery == SoakWriteEvery-1:
			o = probe.write(ctx, w)
			t.Writes.Add(1)
		case i%SoakLookupEvery == SoakLookupEvery/2:
			q := lqs[(i/SoakLookupEvery)%int64(len(lqs))]
			ids, err := s.LookupResources(ctx, q)
			if err != nil {
				o = Outcome{Err: fmt.Errorf("lookup: %w", err)}
			} else {
				o = Outcome{Items: len(ids), Mismatch: compareIDs(fmt.Sprintf("LookupResources %s#%s for %s", q.ResourceType, q.Permission, q.Subject), ids, q.Expected)}
			}
			t.Lookups.Add(1)
		default:
			o = read(ctx, w, i)
			t.Checks.Add(1)
		}
		t.Requests.Add(1)
		if o.Err != nil {
			t.Errors.Add(1)
		} else if o.Mismatch != "" {
			t.Mismatches.Add(uint64(max(o.Mismatches, 1)))
		}
		return o
	}
	return &Prepared{Op: op, Pool: len(qs), Note: fmt.Sprintf(
		"1 request in %d is a write plus an at_least_as_fresh check of it, 1 in %d a LookupResources (%d users), the rest checks",
		SoakWriteEvery, SoakLookupEvery, len(lqs))}, nil
}

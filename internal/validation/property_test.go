package validation

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

var (
	flagCases = flag.Int("pemba.cases", 8000, "how many random checks the property tests make")
	flagSeed  = flag.Uint64("pemba.seed", 0, "base seed of the property tests; 0 picks one from the clock")
)

// baseSeed returns the seed of this run and logs how to repeat it.
func baseSeed(t *testing.T) uint64 {
	s := *flagSeed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with -pemba.seed=%d)", s, s)
	return s
}

// checksPerWorld is how many random checks one generated world gets, across its
// first revision and its later writes.
const checksPerWorld = 40

// maxReported bounds how many disagreements one run reports in full.
const maxReported = 3

// liveWorld is a generated world loaded into a store, with a cached and an uncached
// engine over it.
type liveWorld struct {
	w        *world
	sch      *schema.Schema
	store    *memory.Store
	cached   *engine.Engine
	uncached *engine.Engine
	rev      datastore.Revision
	rels     []tuple.Relationship
}

// newLiveWorld draws worlds from r until one compiles, and loads it.
func newLiveWorld(t *testing.T, r *rand.Rand) (*liveWorld, *refEval) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		if attempt == 50 {
			t.Fatal("the generator produced 50 unusable schemas in a row")
		}
		w := genWorld(r)
		sch, err := schema.Compile("gen.zed", w.schemaText)
		if err != nil && strings.Contains(err.Error(), "wildcards cannot be included through a subject relation") {
			continue // a rule of the language the generator does not track: draw again
		}
		if err != nil {
			t.Fatalf("generated schema does not compile (generator bug): %v\n%s", err, w.schemaText)
		}
		ref, err := newRefEval(sch, w.rels, time.Now())
		if err != nil {
			t.Fatalf("reference evaluator: %v\n%s", err, w.schemaText)
		}
		for _, rl := range w.rels {
			if err := sch.ValidateRelationship(rl); err != nil {
				t.Fatalf("generated relationship %s does not fit the schema (generator bug): %v\n%s", rl, err, w.schemaText)
			}
		}
		lw := &liveWorld{w: w, sch: sch, store: memory.New(datastore.Options{}), rels: w.rels}
		t.Cleanup(func() { lw.store.Close() })
		lw.rev = lw.write(t, w.schemaText, nil, w.rels, nil)
		lw.cached = engine.New(lw.store, engine.Config{})
		lw.uncached = engine.New(lw.store, engine.Config{CacheSize: -1, MaxConcurrency: 1})
		return lw, ref
	}
}

// write commits one transaction: an optional schema, creates, touches and deletes.
func (lw *liveWorld) write(t *testing.T, schemaText string, creates, touches, deletes []tuple.Relationship) datastore.Revision {
	t.Helper()
	var updates []datastore.Update
	for _, r := range deletes {
		updates = append(updates, datastore.Update{Op: datastore.OpDelete, Relationship: r})
	}
	for _, r := range creates {
		updates = append(updates, datastore.Update{Op: datastore.OpCreate, Relationship: r})
	}
	for _, r := range touches {
		updates = append(updates, datastore.Update{Op: datastore.OpTouch, Relationship: r})
	}
	rev, err := lw.store.ReadWriteTx(context.Background(), tuple.DefaultTenant, datastore.TxMetadata{Operation: "test"},
		func(ctx context.Context, tx datastore.ReadWriteTx) error {
			if schemaText != "" {
				if err := tx.WriteSchema(ctx, schemaText); err != nil {
					return err
				}
			}
			return tx.WriteRelationships(ctx, updates)
		})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	return rev
}

// applyWrite returns rels after deleting deletes and touching touches, as the store
// applies them.
func applyWrite(rels, touches, deletes []tuple.Relationship) []tuple.Relationship {
	byKey := map[tuple.Key]tuple.Relationship{}
	var order []tuple.Key
	for _, r := range rels {
		byKey[r.Key()] = r
		order = append(order, r.Key())
	}
	for _, r := range deletes {
		delete(byKey, r.Key())
	}
	for _, r := range touches {
		if _, ok := byKey[r.Key()]; !ok {
			order = append(order, r.Key())
		}
		byKey[r.Key()] = r
	}
	var out []tuple.Relationship
	seen := map[tuple.Key]bool{}
	for _, k := range order {
		if r, ok := byKey[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// paramDomains are values tried for each caveat parameter when checking that the
// parameters an engine names as missing are enough to decide a conditional answer.
var paramDomains = map[string][]any{"on": {true, false}, "n": {3, 7}, "max": {4, 6}}

// agrees reports whether an engine answer agrees with the reference: the same
// permissionship and, for a conditional answer, missing parameters that are a
// non-empty subset of those the reference found on undecided branches and that are
// enough to decide the answer: for every combination of values given to them, the
// reference answers allowed or denied. (The reference's own list is an upper bound:
// Kleene's rules keep a parameter of a branch that another branch makes irrelevant,
// as in a + (b & a).)
func agrees(want tri, got engine.CheckResult, decided func(extra map[string]any) (bool, error)) (bool, string) {
	var p engine.Permissionship
	switch want.state {
	case triTrue:
		p = engine.HasPermission
	case triCond:
		p = engine.Conditional
	default:
		p = engine.NoPermission
	}
	if got.Permissionship != p {
		return false, ""
	}
	if p != engine.Conditional {
		return true, ""
	}
	if len(got.MissingContext) == 0 {
		return false, "a conditional answer names no missing parameter"
	}
	for _, m := range got.MissingContext {
		if !slices.Contains(want.missingNames(), m) {
			return false, fmt.Sprintf("parameter %q decides nothing here", m)
		}
	}
	for _, assignment := range assignments(got.MissingContext) {
		ok, err := decided(assignment)
		if err != nil {
			return false, err.Error()
		}
		if !ok {
			return false, fmt.Sprintf("the named parameters do not decide the answer: with %s it stays conditional", tuple.MarshalContext(assignment))
		}
	}
	return true, ""
}

// assignments lists every combination of domain values for names.
func assignments(names []string) []map[string]any {
	out := []map[string]any{{}}
	for _, n := range names {
		var next []map[string]any
		for _, a := range out {
			for _, v := range paramDomains[n] {
				b := maps.Clone(a)
				b[n] = v
				next = append(next, b)
			}
		}
		out = next
	}
	return out
}

// decider returns the function agrees uses: whether the reference decides check c
// when the request context also carries extra.
func decider(ref *refEval, c genCheck) func(map[string]any) (bool, error) {
	return func(extra map[string]any) (bool, error) {
		ctx := maps.Clone(checkContexts[c.ctx])
		if ctx == nil {
			ctx = map[string]any{}
		}
		maps.Copy(ctx, extra)
		v, err := ref.check(c.resource, c.permission, c.subject, ctx)
		return v.state != triCond, err
	}
}

func describeAnswer(got engine.CheckResult) string {
	if got.Permissionship == engine.Conditional {
		return fmt.Sprintf("conditional[%s]", strings.Join(got.MissingContext, ","))
	}
	return got.Permissionship.String()
}

// refAnswers memoises the reference's models per subject and context.
type refAnswers struct {
	ref    *refEval
	models map[string]model
}

func newRefAnswers(ref *refEval) *refAnswers {
	return &refAnswers{ref: ref, models: map[string]model{}}
}

// answer is the reference's answer to c; paradox says whether it is one (its bounds
// differ).
func (a *refAnswers) answer(c genCheck) (tri, error) {
	v, _, err := a.bounds(c)
	return v, err
}

func (a *refAnswers) bounds(c genCheck) (answer tri, paradox bool, err error) {
	if len(c.contextual) > 0 {
		return vFalse, false, fmt.Errorf("refAnswers does not take contextual relationships; use refFor")
	}
	key := c.subject.String() + "|" + fmt.Sprint(c.ctx)
	m, ok := a.models[key]
	if !ok {
		if m, err = a.ref.model(c.subject, checkContexts[c.ctx], c.resource); err != nil {
			return vFalse, false, err
		}
		a.models[key] = m
	}
	k := pairKey{c.resource, c.permission}
	if v, ok := m.lo[k]; ok {
		return v, m.hi[k].state != v.state, nil
	}
	// An object outside the model's universe: compute it on its own.
	if m, err = a.ref.model(c.subject, checkContexts[c.ctx], c.resource); err != nil {
		return vFalse, false, err
	}
	return m.lo[k], m.hi[k].state != m.lo[k].state, nil
}

// TestPropertyCheckMatchesReference draws random worlds and checks: the engine, with
// its cache and without, must answer every check as the reference evaluator does, at
// the first revision and after each of several interleaved writes; and answers at an
// older revision must not change after later writes (the cache is keyed by revision).
func TestPropertyCheckMatchesReference(t *testing.T) {
	seed := baseSeed(t)
	worlds := max(1, *flagCases/checksPerWorld)
	ctx := context.Background()
	checks, reported, paradoxes := 0, 0, 0
	withContextual, changedByContextual := 0, 0
	for i := 0; i < worlds && reported < maxReported; i++ {
		caseSeed := seed + uint64(i)
		r := rand.New(rand.NewPCG(caseSeed, caseSeed^0x9e3779b97f4a7c15))
		lw, ref := newLiveWorld(t, r)
		answers := newRefAnswers(ref)
		type past struct {
			rev  datastore.Revision
			c    genCheck
			want tri
			ref  *refEval
		}
		var history []past
		const rounds = 4
		for round := 0; round < rounds && reported < maxReported; round++ {
			if round > 0 {
				touches, deletes := genMutation(r, lw.w, lw.rels)
				lw.rev = lw.write(t, "", nil, touches, deletes)
				lw.rels = applyWrite(lw.rels, touches, deletes)
				next, err := newRefEval(lw.sch, lw.rels, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				answers = newRefAnswers(next)
			}
			for _, c := range genChecks(r, lw.w, checksPerWorld/rounds) {
				if r.IntN(4) == 0 {
					c.contextual = genContextual(r, lw.w, lw.rels, c)
				}
				cref := refFor(t, answers.ref, lw.rels, c)
				var want tri
				var err error
				if cref == answers.ref {
					var paradox bool
					want, paradox, err = answers.bounds(c)
					if paradox {
						paradoxes++
					}
				} else {
					want, err = cref.check(c.resource, c.permission, c.subject, checkContexts[c.ctx])
					withContextual++
					plain := c
					plain.contextual = nil
					if without, perr := answers.answer(plain); perr == nil && without != want {
						changedByContextual++
					}
				}
				if err != nil {
					t.Fatalf("seed %d: reference: %s: %v", caseSeed, c, err)
				}
				for _, e := range []struct {
					name string
					eng  *engine.Engine
				}{{"cached", lw.cached}, {"uncached", lw.uncached}} {
					got, err := e.eng.Check(ctx, checkRequest(lw.rev, c))
					checks++
					if err != nil {
						reported++
						reportDisagreement(t, caseSeed, lw, c, want, got, err.Error(), e.name)
						break
					}
					if ok, why := agrees(want, got, decider(cref, c)); !ok {
						reported++
						reportDisagreement(t, caseSeed, lw, c, want, got, why, e.name)
						break
					}
				}
				history = append(history, past{lw.rev, c, want, cref})
			}
		}
		// Earlier revisions answer as they did, whatever was written since.
		for _, h := range history {
			if reported >= maxReported {
				break
			}
			got, err := lw.cached.Check(ctx, checkRequest(h.rev, h.c))
			checks++
			ok, why := false, ""
			if err == nil {
				ok, why = agrees(h.want, got, decider(h.ref, h.c))
			}
			if !ok {
				reported++
				t.Errorf("seed %d: at old revision %d (head %d) %s: reference %s, cached engine %s (err %v) %s\nschema:\n%s",
					caseSeed, h.rev, lw.rev, h.c, h.want, describeAnswer(got), err, why, lw.w.schemaText)
			}
		}
	}
	t.Logf("%d engine checks over %d worlds; %d questions sent contextual relationships, which changed the answer of %d; %d asked about a paradox",
		checks, worlds, withContextual, changedByContextual, paradoxes)
}

func checkRequest(rev datastore.Revision, c genCheck) engine.CheckRequest {
	return engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: c.resource, Permission: c.permission, Subject: c.subject, Context: checkContexts[c.ctx], Contextual: c.contextual}
}

// refFor returns the reference evaluator for check c over the stored relationships
// rels: ref itself, or, when c carries contextual relationships, one over rels and
// those.
func refFor(t *testing.T, ref *refEval, rels []tuple.Relationship, c genCheck) *refEval {
	t.Helper()
	if len(c.contextual) == 0 {
		return ref
	}
	withCtx, err := newRefEval(ref.sch, append(slices.Clone(rels), c.contextual...), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return withCtx
}

// reportDisagreement shrinks the relationships of a failing check to a minimal set
// that still fails on a fresh engine and prints it as a validation file, ready to be
// committed as a regression test.
func reportDisagreement(t *testing.T, seed uint64, lw *liveWorld, c genCheck, want tri, got engine.CheckResult, why, which string) {
	t.Helper()
	engineAnswer := describeAnswer(got)
	if why != "" {
		engineAnswer += " (" + why + ")"
	}
	rels := shrinkRelationships(t, lw.sch, lw.w.schemaText, lw.rels, c)
	t.Errorf("seed %d: %s: reference %s, %s engine %s\nsmallest failing case (%d of %d relationships):\n%s",
		seed, c, want, which, engineAnswer, len(rels), len(lw.rels), validationYAML(lw.w.schemaText, rels, c, want))
}

// failsFresh reports whether a fresh uncached engine over schemaText and rels
// disagrees with the reference on c.
func failsFresh(t *testing.T, sch *schema.Schema, schemaText string, rels []tuple.Relationship, c genCheck) bool {
	ref, err := newRefEval(sch, append(slices.Clone(rels), c.contextual...), time.Now())
	if err != nil {
		return false
	}
	want, err := ref.check(c.resource, c.permission, c.subject, checkContexts[c.ctx])
	if err != nil {
		return false
	}
	lw := &liveWorld{store: memory.New(datastore.Options{})}
	defer lw.store.Close()
	rev := lw.write(t, schemaText, rels, nil, nil)
	got, err := engine.New(lw.store, engine.Config{CacheSize: -1, MaxConcurrency: 1}).Check(context.Background(), checkRequest(rev, c))
	if err != nil {
		return true
	}
	ok, _ := agrees(want, got, decider(ref, c))
	return !ok
}

// shrinkRelationships removes relationships one at a time while the check still
// fails on a fresh engine. When the failure needs the cache or earlier revisions to
// show, nothing can be removed and the full set is returned.
func shrinkRelationships(t *testing.T, sch *schema.Schema, schemaText string, rels []tuple.Relationship, c genCheck) []tuple.Relationship {
	if !failsFresh(t, sch, schemaText, rels, c) {
		return rels
	}
	cur := slices.Clone(rels)
	for i := 0; i < len(cur); {
		cand := slices.Delete(slices.Clone(cur), i, i+1)
		if failsFresh(t, sch, schemaText, cand, c) {
			cur = cand
			continue
		}
		i++
	}
	return cur
}

// validationYAML renders a case as a validation file whose assertion states the
// reference's answer.
func validationYAML(schemaText string, rels []tuple.Relationship, c genCheck, want tri) string {
	var b strings.Builder
	b.WriteString("schema: |-\n")
	for line := range strings.SplitSeq(strings.TrimRight(schemaText, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	b.WriteString("relationships: |-\n")
	for _, r := range rels {
		b.WriteString("  " + tuple.Format(r) + "\n")
	}
	kind := map[triState]string{triTrue: "assertTrue", triFalse: "assertFalse", triCond: "assertCaveated"}[want.state]
	if len(c.contextual) > 0 {
		b.WriteString("# the check sends contextual relationships; they are listed in the message above\n")
		c.contextual = nil
	}
	fmt.Fprintf(&b, "assertions:\n  %s:\n    - '%s'\n", kind, c)
	return b.String()
}

// TestPropertyLookupsMatchCheck draws random worlds and, for every resource,
// permission and subject each mentions, requires CheckBulk, LookupResources and
// LookupSubjects to agree with Check, and Check with the reference evaluator, under a
// random caveat context.
func TestPropertyLookupsMatchCheck(t *testing.T) {
	seed := baseSeed(t)
	// One world asks about a thousand questions; keep the default run short.
	worlds := max(1, *flagCases/400)
	total := 0
	for i := 0; i < worlds; i++ {
		caseSeed := seed + uint64(i)
		r := rand.New(rand.NewPCG(caseSeed, caseSeed^0x2545f4914f6cdd1d))
		lw, ref := newLiveWorld(t, r)
		cctx := checkContexts[r.IntN(len(checkContexts))]
		n, problems, err := crossCheck(context.Background(), consistencyInput{eng: lw.cached, rev: lw.rev, sch: lw.sch, rels: lw.rels, ctx: cctx, ref: ref})
		total += n
		if err != nil {
			t.Fatalf("seed %d: %v", caseSeed, err)
		}
		if len(problems) > 0 {
			t.Errorf("seed %d, context %s: %d inconsistencies, first: %s\nschema:\n%s\nrelationships:\n%s",
				caseSeed, tuple.MarshalContext(cctx), len(problems), strings.Join(problems[:min(5, len(problems))], "\n"), lw.w.schemaText, relLines(lw.rels))
			return
		}
	}
	t.Logf("%d questions over %d worlds", total, worlds)
}

func relLines(rels []tuple.Relationship) string {
	var b strings.Builder
	for _, r := range rels {
		b.WriteString(tuple.Format(r) + "\n")
	}
	return b.String()
}

package engine

import (
	"crypto/sha256"
	"slices"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// fingerprint identifies a request's caveat context or its set of contextual
// relationships inside cache keys. The zero value means "none".
type fingerprint [16]byte

// contextFingerprint fingerprints caveat context. Context can only change answers
// when the schema has caveats, so without caveats every context shares one key.
func contextFingerprint(cs *compiledSchema, ctx map[string]any) fingerprint {
	if !cs.hasCaveats || len(ctx) == 0 {
		return fingerprint{}
	}
	sum := sha256.Sum256(tuple.MarshalContext(ctx))
	var f fingerprint
	copy(f[:], sum[:])
	f[0] |= 1 // never the zero value
	return f
}

// contextualFingerprint fingerprints a set of contextual relationships (order does
// not matter).
func contextualFingerprint(rels []tuple.Relationship) fingerprint {
	if len(rels) == 0 {
		return fingerprint{}
	}
	lines := make([]string, len(rels))
	for i, r := range rels {
		lines[i] = tuple.Format(r)
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	var f fingerprint
	copy(f[:], sum[:])
	f[0] |= 1
	return f
}

// cacheKey identifies one sub-problem: does subject have rel on typ:id, in one tenant
// incarnation at one revision, given the caveat context and contextual relationships
// of the request. Time is deliberately not part of it: entries carry the expiry of
// what they depended on instead.
type cacheKey struct {
	tenant     string
	epoch      uint64
	rev        datastore.Revision
	typ, id    string
	rel        string
	subject    tuple.SubjectRef
	context    fingerprint
	contextual fingerprint
}

// cacheEntry is a cached answer.
type cacheEntry struct {
	perm    Permissionship
	missing []string
	// height is how many levels below the node the evaluation used.
	height int
	// expires is when the earliest relationship the answer depended on expires.
	expires time.Time
}

func (e *Engine) cacheGet(k cacheKey, now time.Time) (cacheEntry, bool) {
	if e.results == nil {
		return cacheEntry{}, false
	}
	ent, ok := e.results.Get(k)
	if !ok {
		return cacheEntry{}, false
	}
	if !ent.expires.IsZero() && !now.Before(ent.expires) {
		e.results.Remove(k)
		return cacheEntry{}, false
	}
	return ent, true
}

func (e *Engine) cachePut(k cacheKey, r result) {
	if e.results == nil {
		return
	}
	e.results.Add(k, cacheEntry{perm: r.perm, missing: r.missing, height: r.height, expires: r.expires})
}

// PurgeCache empties the shared result cache (for tests and benchmarks that need
// cold evaluations).
func (e *Engine) PurgeCache() {
	if e.results != nil {
		e.results.Purge()
	}
}

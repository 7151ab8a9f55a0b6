package engine

import (
	"crypto/sha256"
	"hash/maphash"
	"slices"
	"strings"
	"sync/atomic"
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
	// upper is the upper bound of an answer a paradox leaves open (nil: exact).
	upper *bound
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

// cachePut offers an answer to the cache. An answer enters it the second time it is
// computed: a one-off question (most of a workload of fresh checks) then costs no
// insertion and evicts nothing, while anything asked again is cached from its second
// asking on.
func (e *Engine) cachePut(k cacheKey, r result) {
	if e.results == nil {
		return
	}
	if !e.door.admit(e.hashKey(k)) {
		return
	}
	e.results.Add(k, cacheEntry{perm: r.perm, missing: r.missing, upper: r.upper, height: r.height, expires: r.expires})
}

func (e *Engine) hashKey(k cacheKey) uint64 { return maphash.Comparable(e.seed, k) }

// PurgeCache empties the shared result cache (for tests and benchmarks that need
// cold evaluations).
func (e *Engine) PurgeCache() {
	if e.results != nil {
		e.results.Purge()
		e.door.clear()
	}
}

// doorkeeper remembers, approximately and without locks, which keys were offered to
// the cache: a bit set probed at two positions per key. It is cleared once it has
// admitted as many keys as the cache holds, so it forgets old one-offs; a false
// positive only admits a key one sighting early.
type doorkeeper struct {
	bits  []atomic.Uint64
	mask  uint64
	adds  atomic.Int64
	limit int64
}

func newDoorkeeper(cacheSize int) *doorkeeper {
	n := uint64(1 << 10)
	for n < uint64(cacheSize)*16 {
		n <<= 1
	}
	return &doorkeeper{bits: make([]atomic.Uint64, n/64), mask: n - 1, limit: int64(cacheSize)}
}

func (d *doorkeeper) positions(h uint64) (uint64, uint64) {
	return h & d.mask, (h >> 32) & d.mask
}

func (d *doorkeeper) has(p uint64) bool { return d.bits[p/64].Load()&(1<<(p%64)) != 0 }

// admit records h and reports whether it had been offered before.
func (d *doorkeeper) admit(h uint64) bool {
	a, b := d.positions(h)
	if d.has(a) && d.has(b) {
		return true
	}
	d.bits[a/64].Or(1 << (a % 64))
	d.bits[b/64].Or(1 << (b % 64))
	if d.adds.Add(1) >= d.limit {
		d.clear()
	}
	return false
}

func (d *doorkeeper) clear() {
	d.adds.Store(0)
	for i := range d.bits {
		d.bits[i].Store(0)
	}
}

package bolt

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Bucket names. Every key in every bucket except meta and tenants starts with the
// owning tenant's 4-byte id; see doc.go for the full layout.
var (
	bucketMeta    = []byte("meta")
	bucketTenants = []byte("tenants")
	bucketDropped = []byte("dropped")
	bucketRels    = []byte("rels")
	bucketRevRels = []byte("rrels")
	bucketDead    = []byte("dead")
	bucketExpiry  = []byte("expiry")
	bucketLog     = []byte("log")
	bucketTimes   = []byte("times")
	bucketSchemas = []byte("schemas")
	bucketCounts  = []byte("counts")
	// bucketRevPending is the reverse index's write-behind journal (see overlay.go).
	bucketRevPending = []byte("rpend")
	// Records (see records.go). Files written before records existed lack these
	// buckets; Open creates them, so such files and their backups stay usable.
	bucketRecs    = []byte("recs")
	bucketRecKeys = []byte("reckeys")
	bucketRecDead = []byte("recdead")
	recordBuckets = [][]byte{bucketRecs, bucketRecKeys, bucketRecDead}

	allBuckets = [][]byte{bucketMeta, bucketTenants, bucketDropped, bucketRels, bucketRevRels,
		bucketDead, bucketExpiry, bucketLog, bucketTimes, bucketSchemas, bucketCounts, bucketRevPending, bucketRecs, bucketRecKeys, bucketRecDead}
	// tenantBuckets are the buckets whose keys start with a tenant id.
	tenantBuckets = [][]byte{bucketRels, bucketRevRels, bucketDead, bucketExpiry, bucketLog,
		bucketTimes, bucketSchemas, bucketCounts, bucketRecs, bucketRecKeys, bucketRecDead}
)

const (
	tenantIDLen = 4
	revLen      = 8
	// verLen is the size of the created revision that ends the keys of rels, rrels,
	// dead and expiry: 40 bits, a trillion commits per tenant.
	verLen = 5
	// maxVersionRevision is the last revision a version key can hold.
	maxVersionRevision = datastore.Revision(1<<40 - 1)
	timeLen            = 12
	// sep ends every name and id inside a key. Names and ids never contain it, so
	// byte order of the keys is field-by-field string order.
	sep = 0
)

// checkKey refuses a relationship whose names could not be stored unambiguously.
func checkKey(k tuple.Key) error {
	for _, f := range [...]struct{ name, v string }{
		{"resource type", k.ResourceType}, {"resource id", k.ResourceID}, {"relation", k.Relation},
		{"subject type", k.SubjectType}, {"subject id", k.SubjectID}, {"subject relation", k.SubjectRel},
	} {
		if f.v == "" && f.name != "subject relation" {
			return fmt.Errorf("relationship %s: %s is empty: %w", k, f.name, datastore.ErrInvalidArgument)
		}
		if strings.IndexByte(f.v, sep) >= 0 {
			return fmt.Errorf("relationship %s: %s contains a NUL byte: %w", k, f.name, datastore.ErrInvalidArgument)
		}
	}
	return nil
}

func appendTenant(b []byte, id uint32) []byte { return binary.BigEndian.AppendUint32(b, id) }

func appendRev(b []byte, rev datastore.Revision) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(rev))
}

// appendVer appends a version's created revision (verLen bytes, big-endian).
func appendVer(b []byte, rev datastore.Revision) []byte {
	v := uint64(rev)
	return append(b, byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func readVer(b []byte) datastore.Revision {
	_ = b[4]
	return datastore.Revision(uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4]))
}

func appendField(b []byte, s string) []byte { return append(append(b, s...), sep) }

// appendForwardFields appends the key's six fields in forward (tuple.Key) order.
func appendForwardFields(b []byte, k *tuple.Key) []byte {
	b = appendField(b, k.ResourceType)
	b = appendField(b, k.ResourceID)
	b = appendField(b, k.Relation)
	b = appendField(b, k.SubjectType)
	b = appendField(b, k.SubjectID)
	return appendField(b, k.SubjectRel)
}

// sortedFields encodes n keys' forward fields and returns them in the fields' byte
// order, which is key order: writing and seeking in that order moves forward through
// the file. Each element is a key's fields followed by the key's index (4 bytes,
// see fieldsIndex); the fields encoding is prefix-free, so the index never changes
// the order of two different keys. The elements share one string, so a batch costs a
// few allocations, not one a key, and sorting them is a plain string sort.
func sortedFields(n int, key func(i int) tuple.Key) []string {
	data := make([]byte, 0, 64*n)
	ends := make([]int, n)
	for i := range n {
		k := key(i)
		data = binary.BigEndian.AppendUint32(appendForwardFields(data, &k), uint32(i))
		ends[i] = len(data)
	}
	all := string(data)
	out := make([]string, n)
	start := 0
	for i := range out {
		out[i] = all[start:ends[i]]
		start = ends[i]
	}
	slices.Sort(out)
	return out
}

// fieldsIndex splits an element of sortedFields into the key's fields and its index.
func fieldsIndex(e string) (fields string, i int) {
	c := len(e) - 4
	return e[:c], int(e[c])<<24 | int(e[c+1])<<16 | int(e[c+2])<<8 | int(e[c+3])
}

// appendReverseFields appends the key's fields in reverse-query order: the subject,
// then the forward key (whose subject part is then already fixed, so it is omitted).
func appendReverseFields(b []byte, k *tuple.Key) []byte {
	b = appendField(b, k.SubjectType)
	b = appendField(b, k.SubjectID)
	b = appendField(b, k.SubjectRel)
	b = appendField(b, k.ResourceType)
	b = appendField(b, k.ResourceID)
	return appendField(b, k.Relation)
}

// forwardPrefix is tenant | forward fields: the prefix shared by every version of k.
func forwardPrefix(b []byte, tenant uint32, k *tuple.Key) []byte {
	return appendForwardFields(appendTenant(b, tenant), k)
}

func reversePrefix(b []byte, tenant uint32, k *tuple.Key) []byte {
	return appendReverseFields(appendTenant(b, tenant), k)
}

// afterAllVersions returns the smallest key greater than every version of a key
// with the given prefix (versions end in verLen revision bytes, never all 0xff).
func afterAllVersions(prefix []byte) []byte {
	return append(slices.Clip(prefix), 0xff, 0xff, 0xff, 0xff, 0xff)
}

// splitFields cuts n separator-terminated fields off the front of b, sharing one
// string allocation between them.
func splitFields(b []byte, out []string) error {
	s := string(b)
	for i := range out {
		j := strings.IndexByte(s, sep)
		if j < 0 {
			return fmt.Errorf("corrupt key: %d of %d fields", i, len(out))
		}
		out[i], s = s[:j], s[j+1:]
	}
	if s != "" {
		return fmt.Errorf("corrupt key: %d trailing bytes", len(s))
	}
	return nil
}

// decodeForwardKey reads a rels key (tenant | fields | created).
func decodeForwardKey(k []byte) (tuple.Key, datastore.Revision, error) {
	if len(k) < tenantIDLen+verLen+6 {
		return tuple.Key{}, 0, fmt.Errorf("corrupt relationship key of %d bytes", len(k))
	}
	var f [6]string
	if err := splitFields(k[tenantIDLen:len(k)-verLen], f[:]); err != nil {
		return tuple.Key{}, 0, err
	}
	return tuple.Key{ResourceType: f[0], ResourceID: f[1], Relation: f[2], SubjectType: f[3], SubjectID: f[4], SubjectRel: f[5]},
		createdOf(k), nil
}

// decodeReverseKey reads a rrels key.
func decodeReverseKey(k []byte) (tuple.Key, datastore.Revision, error) {
	if len(k) < tenantIDLen+verLen+6 {
		return tuple.Key{}, 0, fmt.Errorf("corrupt reverse key of %d bytes", len(k))
	}
	var f [6]string
	if err := splitFields(k[tenantIDLen:len(k)-verLen], f[:]); err != nil {
		return tuple.Key{}, 0, err
	}
	return tuple.Key{SubjectType: f[0], SubjectID: f[1], SubjectRel: f[2], ResourceType: f[3], ResourceID: f[4], Relation: f[5]},
		createdOf(k), nil
}

// createdOf returns the version revision at the end of a rels or rrels key.
func createdOf(k []byte) datastore.Revision { return readVer(k[len(k)-verLen:]) }

// appendTime appends t as 12 bytes that sort like the times: seconds since the Unix
// epoch with the sign bit flipped, then nanoseconds. Unlike UnixNano it covers every
// year a relationship may name.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func readTime(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

// tenantRevKey is tenant | revision: the key of log, times and schemas entries.
func tenantRevKey(tenant uint32, rev datastore.Revision) []byte {
	return appendRev(appendTenant(make([]byte, 0, tenantIDLen+revLen), tenant), rev)
}

func revOfTenantRevKey(k []byte) datastore.Revision {
	return datastore.Revision(binary.BigEndian.Uint64(k[tenantIDLen:]))
}

func tenantPrefix(tenant uint32) []byte { return appendTenant(nil, tenant) }

// deadKey is tenant | deleted | forward fields | created: one entry per version
// deleted at that revision, which GC walks in deletion order.
func deadKey(b []byte, tenant uint32, deleted datastore.Revision, k *tuple.Key, created datastore.Revision) []byte {
	b = appendRev(appendTenant(b, tenant), deleted)
	return appendVer(appendForwardFields(b, k), created)
}

// expiryKey is tenant | expiry time | forward fields | created.
func expiryKey(b []byte, tenant uint32, at time.Time, k *tuple.Key, created datastore.Revision) []byte {
	b = appendTime(appendTenant(b, tenant), at)
	return appendVer(appendForwardFields(b, k), created)
}

// decodeIndexTail reads the forward fields and created revision after a fixed-size
// head of skip bytes (the dead and expiry buckets).
func decodeIndexTail(k []byte, skip int) (tuple.Key, datastore.Revision, error) {
	if len(k) < skip+verLen+6 {
		return tuple.Key{}, 0, fmt.Errorf("corrupt index key of %d bytes", len(k))
	}
	var f [6]string
	if err := splitFields(k[skip:len(k)-verLen], f[:]); err != nil {
		return tuple.Key{}, 0, err
	}
	return tuple.Key{ResourceType: f[0], ResourceID: f[1], Relation: f[2], SubjectType: f[3], SubjectID: f[4], SubjectRel: f[5]},
		createdOf(k), nil
}

// countKey is tenant | resource type: the live-relationship counter of a type.
func countKey(tenant uint32, typ string) []byte {
	return append(appendTenant(make([]byte, 0, tenantIDLen+len(typ)), tenant), typ...)
}

// tenantOf returns the tenant id a key starts with.
func tenantOf(k []byte) uint32 { return binary.BigEndian.Uint32(k) }

// hasTenant reports whether k belongs to the tenant.
func hasTenant(k []byte, tenant uint32) bool {
	return len(k) >= tenantIDLen && binary.BigEndian.Uint32(k) == tenant
}

// maxRevision bounds seeks past the newest revision.
const maxRevision = datastore.Revision(math.MaxUint64)

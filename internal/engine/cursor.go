package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// cursorPrefix marks version 1 of the lookup cursor format.
const cursorPrefix = "pc1_"

// lookupFingerprint binds a cursor to the request that issued it: the kind of
// lookup, tenant, what is looked up, for whom, and with which context. The revision
// is deliberately not part of it, so a client paging with minimize_latency may
// continue across revisions; results stay in id order either way.
func lookupFingerprint(kind, tenant, typ, perm, other string, ctx map[string]any, contextual []tuple.Relationship) [8]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", kind, tenant, typ, perm, other)
	if len(ctx) > 0 {
		h.Write(tuple.MarshalContext(ctx))
	}
	fp := contextualFingerprint(contextual)
	h.Write(fp[:])
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

// encodeCursor makes the opaque cursor that resumes a lookup after id.
func encodeCursor(fp [8]byte, id string) string {
	buf := make([]byte, 0, 8+len(id))
	buf = append(buf, fp[:]...)
	buf = append(buf, id...)
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(buf)
}

// decodeCursor returns the id a cursor resumes after ("" for no cursor). A cursor
// issued for a different request is refused.
func decodeCursor(cursor string, fp [8]byte) (string, error) {
	if cursor == "" {
		return "", nil
	}
	bad := func(reason string) (string, error) {
		return "", fmt.Errorf("%w: %w", ErrInvalidCursor, &RequestError{Field: "cursor", Value: truncateCursor(cursor), Reason: reason})
	}
	if len(cursor) < len(cursorPrefix) || cursor[:len(cursorPrefix)] != cursorPrefix {
		return bad("is not a Pemba lookup cursor")
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor[len(cursorPrefix):])
	if err != nil || len(raw) < 9 {
		return bad("is malformed")
	}
	if !bytes.Equal(raw[:8], fp[:]) {
		return bad("was issued for a different lookup (type, permission, subject, resource or context differ)")
	}
	return string(raw[8:]), nil
}

func truncateCursor(s string) string {
	if len(s) > 48 {
		return s[:48] + "…"
	}
	return s
}

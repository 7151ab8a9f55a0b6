package datastore

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strings"
)

// tokenPrefix marks version 1 of the revision token format.
const tokenPrefix = "pt1_"

// EncodeToken turns a revision of a tenant of a store into the opaque token clients
// hold (Zanzibar's zookie). The token binds the store and the tenant, so it cannot be
// replayed against another tenant, and carries a checksum, so an edited token is
// refused instead of silently read at some other revision.
func EncodeToken(storeID, tenant string, rev Revision) string {
	buf := make([]byte, 0, 32)
	buf = binary.BigEndian.AppendUint64(buf, fingerprint(storeID))
	buf = binary.BigEndian.AppendUint64(buf, fingerprint(tenant))
	buf = binary.AppendUvarint(buf, uint64(rev))
	sum := sha256.Sum256(buf)
	buf = append(buf, sum[:4]...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
}

// DecodeToken returns the revision a token names. It fails with an error wrapping
// ErrInvalidArgument when the token is malformed, was edited, or was issued by another
// store or for another tenant.
func DecodeToken(token, storeID, tenant string) (Revision, error) {
	bad := func(reason string) (Revision, error) {
		return 0, fmt.Errorf("consistency token %q %s: %w", truncateToken(token), reason, ErrInvalidArgument)
	}
	body, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return bad("is not a Pemba revision token")
	}
	// A token has one spelling: the decoder skips CR and LF and, unless strict,
	// ignores the unused bits of the last character, so both are refused here.
	if strings.ContainsAny(body, "\r\n") {
		return bad("is malformed")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) < 8+8+1+4 {
		return bad("is malformed")
	}
	payload, sum := raw[:len(raw)-4], raw[len(raw)-4:]
	want := sha256.Sum256(payload)
	if string(want[:4]) != string(sum) {
		return bad("is corrupted (checksum mismatch)")
	}
	if binary.BigEndian.Uint64(payload[0:8]) != fingerprint(storeID) {
		return bad("was issued by a different datastore")
	}
	if binary.BigEndian.Uint64(payload[8:16]) != fingerprint(tenant) {
		return bad(fmt.Sprintf("was issued for a different tenant than %q", tenant))
	}
	rev, n := binary.Uvarint(payload[16:])
	if n <= 0 || 16+n != len(payload) {
		return bad("is malformed")
	}
	return Revision(rev), nil
}

func fingerprint(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func truncateToken(t string) string {
	if len(t) > 48 {
		return t[:48] + "…"
	}
	return t
}

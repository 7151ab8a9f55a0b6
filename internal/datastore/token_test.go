package datastore

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, c := range []struct {
		store, tenant string
		rev           Revision
	}{
		{"mem-1", "default", 0},
		{"mem-1", "default", 1},
		{"bolt-7f3a", "acme", 123_456_789},
		{"pg-x", "a-very-long-tenant-name_with_underscores-0123456789", math.MaxUint64},
		{"", "", 42},
	} {
		token := EncodeToken(c.store, c.tenant, c.rev)
		if !strings.HasPrefix(token, tokenPrefix) {
			t.Errorf("token %q does not start with %q", token, tokenPrefix)
		}
		got, err := DecodeToken(token, c.store, c.tenant)
		if err != nil || got != c.rev {
			t.Errorf("DecodeToken(EncodeToken(%q, %q, %d)) = %d, %v", c.store, c.tenant, c.rev, got, err)
		}
	}
	if EncodeToken("s", "t", 5) != EncodeToken("s", "t", 5) {
		t.Error("the same revision gave two different tokens")
	}
}

// rawToken builds a token from a payload the way EncodeToken does, so a test can
// make tokens that are well-formed up to one chosen defect.
func rawToken(payload []byte) string {
	sum := sha256.Sum256(payload)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(append(payload, sum[:4]...))
}

func payloadFor(store, tenant string, rev Revision) []byte {
	p := binary.BigEndian.AppendUint64(nil, fingerprint(store))
	p = binary.BigEndian.AppendUint64(p, fingerprint(tenant))
	return binary.AppendUvarint(p, uint64(rev))
}

func TestDecodeTokenRefuses(t *testing.T) {
	good := EncodeToken("store-a", "acme", 77)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, tokenPrefix))
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), raw...)
	tampered[16] ^= 0x01 // the revision, with the checksum left as it was
	cases := []struct {
		name, token, store, tenant, reason string
	}{
		{"empty", "", "store-a", "acme", "is not a Pemba revision token"},
		{"other prefix", "zk1_" + strings.TrimPrefix(good, tokenPrefix), "store-a", "acme", "is not a Pemba revision token"},
		{"prefix only", tokenPrefix, "store-a", "acme", "is malformed"},
		{"not base64", tokenPrefix + "!!!!", "store-a", "acme", "is malformed"},
		{"too short", tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:10]), "store-a", "acme", "is malformed"},
		{"edited revision", tokenPrefix + base64.RawURLEncoding.EncodeToString(tampered), "store-a", "acme", "is corrupted (checksum mismatch)"},
		{"edited checksum", good[:len(good)-1] + flipChar(good[len(good)-1]), "store-a", "acme", "is corrupted (checksum mismatch)"},
		{"other store", good, "store-b", "acme", "was issued by a different datastore"},
		{"other tenant", good, "store-a", "globex", `was issued for a different tenant than "globex"`},
		{"trailing bytes", rawToken(append(payloadFor("store-a", "acme", 77), 0)), "store-a", "acme", "is malformed"},
		{"cut revision", rawToken(append(payloadFor("store-a", "acme", 0)[:16], 0x80)), "store-a", "acme", "is malformed"},
	}
	for _, c := range cases {
		rev, err := DecodeToken(c.token, c.store, c.tenant)
		if err == nil {
			t.Errorf("%s: DecodeToken accepted %q as revision %d", c.name, c.token, rev)
			continue
		}
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v does not match ErrInvalidArgument", c.name, err)
		}
		if !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: the error %q does not say %q", c.name, err, c.reason)
		}
	}
}

func flipChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestDecodeTokenShortensLongTokensInErrors(t *testing.T) {
	long := tokenPrefix + strings.Repeat("x", 200)
	_, err := DecodeToken(long, "s", "t")
	if err == nil {
		t.Fatal("a long garbage token was accepted")
	}
	if strings.Contains(err.Error(), long) || !strings.Contains(err.Error(), long[:48]+"…") {
		t.Fatalf("the error %q does not quote the token shortened to 48 bytes", err)
	}
}

package datastore

import (
	"errors"
	"testing"
)

// FuzzDecodeToken feeds arbitrary text to the token decoder, as a client may send it.
// It must never panic; a token it accepts must name the store and tenant it was asked
// for, so it encodes back to itself; anything else is an invalid argument.
func FuzzDecodeToken(f *testing.F) {
	const store, tenant = "store-1", "acme"
	for _, rev := range []Revision{0, 1, 127, 128, 1 << 40} {
		f.Add(EncodeToken(store, tenant, rev))
	}
	f.Add(EncodeToken("other", tenant, 5))
	f.Add("pt1_")
	f.Add("pt1_!!!")
	f.Add("zedtoken")
	f.Fuzz(func(t *testing.T, token string) {
		rev, err := DecodeToken(token, store, tenant)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("DecodeToken(%q) failed with %v, which is not an invalid argument", token, err)
			}
			return
		}
		if again := EncodeToken(store, tenant, rev); again != token {
			t.Fatalf("DecodeToken(%q) accepted revision %d, which encodes as %q", token, rev, again)
		}
	})
}

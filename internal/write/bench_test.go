package write

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// BenchmarkDelegatedWrite measures one delegated write through the write path on the
// memory store: the rules' check with its explanation and, under a time-bounded rule,
// the bound of the grant by the actor's own authority. Each iteration touches a new
// relationship, so none is a no-op.
func BenchmarkDelegatedWrite(b *testing.B) {
	for _, bc := range []struct {
		name, actor, rel string
		lifetime         time.Duration
	}{
		{"member by a permanent admin", "user:eve", "organization:acme-eu#member@user:m%d", 0},
		{"member of a child organisation", "user:eve", "organization:acme-eu-sales#member@user:m%d", 0},
		{"admin by a time-bound admin", "user:dan", "organization:acme-eu-sales#admin@user:m%d", 10 * 24 * time.Hour},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b)
			f.orgTree()
			f.admin("organization:acme-eu-sales#admin@user:dan[expiration:" + f.now.Add(30*24*time.Hour).Format(time.RFC3339) + "]")
			req := Request{Tenant: tuple.DefaultTenant, Actor: actor(bc.actor), Reason: "bench"}
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				rel := tuple.MustParse(fmt.Sprintf(bc.rel, i))
				if bc.lifetime > 0 {
					rel.Expiration = f.now.Add(bc.lifetime)
				}
				if _, err := f.w.WriteRelationships(ctx, req, []datastore.Update{{Op: datastore.OpTouch, Relationship: rel}}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

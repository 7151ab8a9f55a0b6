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

// BenchmarkAccessRequest measures an access request's life on each store: filing it
// (the policy, the binding and the duplicate lookup) and its two approvals under the
// reference schema's partner rule, the last of which writes the grant.
func BenchmarkAccessRequest(b *testing.B) {
	for _, name := range []string{"memory", "bolt"} {
		b.Run(name, func(b *testing.B) {
			f := newReqFixture(b, stores[name])
			ctx := context.Background()
			members := make([]string, b.N)
			for i := range b.N {
				members[i] = fmt.Sprintf("organization:globex#member@user:b%d", i)
			}
			for i := 0; i < len(members); i += 1000 {
				f.admin(members[i:min(i+1000, len(members))]...)
			}
			b.ResetTimer()
			for i := range b.N {
				subject := fmt.Sprintf("user:b%d", i)
				r, _, err := f.w.CreateAccessRequest(ctx, as(subject, "bench"), partnerRequest(subject, 0))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.w.ApproveAccessRequest(ctx, as("user:eve", "bench"), r.ID, 0); err != nil {
					b.Fatal(err)
				}
				if _, err := f.w.ApproveAccessRequest(ctx, as("user:gina", "bench"), r.ID, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// concurrencyRetryDelay is the delay a request refused for concurrency is told to
// wait. Nobody knows when a request in flight will end, so it is a short pause that
// spreads the retries out.
const concurrencyRetryDelay = 100 * time.Millisecond

// sweepFloor is how many tenant buckets the gate keeps before it first sweeps idle
// ones away.
const sweepFloor = 1024

// bucket is the admission state of one tenant or one key: a token bucket for its
// rate and a count of its requests in flight.
type bucket struct {
	scope, name string // "tenant" or "key", and its name
	quota       Quota
	limiter     *rate.Limiter // nil: no rate limit
	inFlight    atomic.Int64
	// overRateV and busyV are the violations of its rate and its concurrency.
	overRateV, busyV *violation
	// pins counts the requests holding a tenant's bucket, so a sweep never drops a
	// bucket in use; guarded by quotaGate.mu.
	pins int
}

// newBucket returns the bucket of a quota, or nil when the quota bounds nothing.
func newBucket(scope, name string, q Quota) *bucket {
	if q.RequestsPerSecond == 0 && q.MaxConcurrent == 0 {
		return nil
	}
	b := &bucket{scope: scope, name: name, quota: q}
	if q.RequestsPerSecond > 0 {
		b.limiter = rate.NewLimiter(rate.Limit(q.RequestsPerSecond), q.burst())
		b.overRateV = newViolation(scope, name, scope+"-requests-per-second", fmt.Sprintf("%g/s, burst %d", q.RequestsPerSecond, q.burst()))
	}
	if q.MaxConcurrent > 0 {
		b.busyV = newViolation(scope, name, scope+"-max-concurrent", fmt.Sprintf("%d in flight", q.MaxConcurrent))
	}
	return b
}

// enter counts a request in flight, or refuses it when the bucket has no room.
func (b *bucket) enter() error {
	if b == nil || b.quota.MaxConcurrent == 0 {
		return nil
	}
	if b.inFlight.Add(1) > int64(b.quota.MaxConcurrent) {
		b.inFlight.Add(-1)
		return quotaError(b.busyV, concurrencyRetryDelay, "%s %q has its %d requests in flight (--%s-max-concurrent); retry when one ends",
			b.scope, b.name, b.quota.MaxConcurrent, b.scope)
	}
	return nil
}

// leave ends a request that enter counted.
func (b *bucket) leave() {
	if b != nil && b.quota.MaxConcurrent > 0 {
		b.inFlight.Add(-1)
	}
}

// reserve takes a token for a request at now and returns the reservation and how
// long the request would have to wait for it (0: it may go now).
func (b *bucket) reserve(now time.Time) (*rate.Reservation, time.Duration) {
	if b == nil || b.limiter == nil {
		return nil, 0
	}
	r := b.limiter.ReserveN(now, 1)
	return r, r.DelayFrom(now)
}

// overRate is the refusal of a request that would have to wait delay for a token.
func (b *bucket) overRate(delay time.Duration) error {
	return quotaError(b.overRateV, delay, "%s %q is over its rate of %g/s (--%s-requests-per-second); retry in %s",
		b.scope, b.name, b.quota.RequestsPerSecond, b.scope, roundDelay(delay))
}

// idle reports whether dropping the bucket loses nothing: a new one would be the same.
func (b *bucket) idle(now time.Time) bool {
	return b.pins == 0 && (b.limiter == nil || b.limiter.TokensAt(now) >= float64(b.limiter.Burst()))
}

// cancel gives back the token of a reservation the request will not use.
func cancel(r *rate.Reservation, now time.Time) {
	if r != nil {
		r.CancelAt(now)
	}
}

// roundDelay rounds a retry delay for a message.
func roundDelay(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// quotaGate admits requests under the quotas of their key and their tenant, refusing
// at once, never queueing. One gate serves both gRPC servers (the external one and
// the REST gateway's), so a quota covers both transports together.
type quotaGate struct {
	quotas Quotas
	keys   map[string]*bucket // by key name, fixed at start; nil entries bound nothing
	now    func() time.Time

	mu      sync.Mutex
	tenants map[string]*bucket
	sweepAt int
}

// newQuotaGate returns the gate of the quotas, or nil when they bound no request.
func newQuotaGate(q Quotas, keys []Key) *quotaGate {
	g := &quotaGate{quotas: q, keys: map[string]*bucket{}, now: time.Now, tenants: map[string]*bucket{}, sweepAt: sweepFloor}
	bounded := newBucket("tenant", "", q.Tenant.Quota) != nil
	for _, tq := range q.Tenants {
		bounded = bounded || newBucket("tenant", "", tq.Quota) != nil
	}
	for _, k := range append([]Key{*anonymous}, keys...) {
		if b := newBucket("key", k.Name, q.forKey(&k)); b != nil {
			g.keys[k.Name] = b
			bounded = true
		}
	}
	if !bounded {
		return nil
	}
	return g
}

// admit counts one request of key k in tenant ("" for a request that names none)
// against their quotas; concurrent says whether it counts as a request in flight. It
// returns the function to call when the request ends, or the refusal.
func (g *quotaGate) admit(k *Key, tenant string, concurrent bool) (release func(), err error) {
	kb := g.keys[k.Name]
	tb := g.pin(tenant)
	// Concurrency first: taking it back is one decrement, a token is dearer.
	if concurrent {
		if err := kb.enter(); err != nil {
			g.unpin(tb)
			return nil, err
		}
		if err := tb.enter(); err != nil {
			kb.leave()
			g.unpin(tb)
			return nil, err
		}
	}
	now := g.now()
	kr, kd := kb.reserve(now)
	tr, td := tb.reserve(now)
	if kd > 0 || td > 0 {
		// Refused by one: the other's token goes back too.
		cancel(kr, now)
		cancel(tr, now)
		if concurrent {
			kb.leave()
			tb.leave()
		}
		g.unpin(tb)
		if kd >= td {
			return nil, kb.overRate(kd)
		}
		return nil, tb.overRate(td)
	}
	return func() {
		if concurrent {
			kb.leave()
			tb.leave()
		}
		g.unpin(tb)
	}, nil
}

// pin returns a tenant's bucket, held until unpin, or nil when its quota bounds no
// request.
func (g *quotaGate) pin(tenant string) *bucket {
	if tenant == "" {
		return nil
	}
	q := g.quotas.ForTenant(tenant).Quota
	if q.RequestsPerSecond == 0 && q.MaxConcurrent == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.tenants[tenant]
	if b == nil {
		if len(g.tenants) >= g.sweepAt {
			g.sweep()
		}
		b = newBucket("tenant", tenant, q)
		g.tenants[tenant] = b
	}
	b.pins++
	return b
}

func (g *quotaGate) unpin(b *bucket) {
	if b == nil {
		return
	}
	g.mu.Lock()
	b.pins--
	g.mu.Unlock()
}

// sweep drops the buckets of idle tenants, so requests naming ever new tenants (most
// of which do not exist) cannot grow the gate without bound. Called with g.mu held;
// the threshold doubles with what stays, so sweeping costs O(1) per request.
func (g *quotaGate) sweep() {
	now := g.now()
	for name, b := range g.tenants {
		if b.idle(now) {
			delete(g.tenants, name)
		}
	}
	g.sweepAt = max(sweepFloor, 2*len(g.tenants))
}

// requestTenant is the tenant a request message uses, "" when it names none. The
// TenantService's requests name the tenant they manage, which is not the tenant they
// use, as for authorisation.
func requestTenant(a access, msg any) string {
	if a == accessTenantAdmin {
		return ""
	}
	tr, ok := msg.(tenantRequest)
	if !ok {
		return ""
	}
	t, err := tenantName(tr.GetTenant())
	if err != nil {
		return "" // authentication refused it already
	}
	return t
}

// unary admits a unary request after authentication, when its key and tenant are
// known, and releases it when the handler returns, cancelled or not.
func (g *quotaGate) unary(ctx context.Context, req any, si *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	acc, _ := accessFor(si.FullMethod)
	if acc == accessPublic {
		return handler(ctx, req)
	}
	release, err := g.admit(principalFrom(ctx), requestTenant(acc, req), true)
	if err != nil {
		return nil, err
	}
	defer release()
	return handler(ctx, req)
}

// stream admits a stream at its first message, which names the tenant, and releases
// it when the handler returns. Watch streams count against the rate only.
func (g *quotaGate) stream(srv any, ss grpc.ServerStream, si *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	acc, _ := accessFor(si.FullMethod)
	if acc == accessPublic {
		return handler(srv, ss)
	}
	qs := &quotaStream{ServerStream: ss, gate: g, access: acc, concurrent: si.FullMethod != pb.WatchService_Watch_FullMethodName}
	defer qs.end()
	return handler(srv, qs)
}

// quotaStream admits its stream when the first message arrives.
type quotaStream struct {
	grpc.ServerStream
	gate       *quotaGate
	access     access
	concurrent bool
	received   bool
	release    func()
}

func (s *quotaStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.received {
		return nil
	}
	s.received = true
	release, err := s.gate.admit(principalFrom(s.Context()), requestTenant(s.access, m), s.concurrent)
	if err != nil {
		return err
	}
	s.release = release
	return nil
}

func (s *quotaStream) end() {
	if s.release != nil {
		s.release()
	}
}

// quotaError is the refusal of a request over the quota of a tenant or key.
func quotaError(v *violation, retry time.Duration, format string, args ...any) error {
	return &quotaRefusal{msg: fmt.Sprintf(format, args...), v: v, retry: retry}
}

package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"iter"
	"maps"
	"slices"

	"github.com/pemba-authz/pemba/internal/datastore"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// crossTenantCursor is the page token of an all_tenants audit query: for every tenant
// that still has older transactions, the revision the next page reads before. A
// tenant missing from it is finished. The first page fixes each tenant's head, so
// paging reads one consistent set of transactions however long it takes, loses none
// and repeats none, even when commit times of different tenants interleave.
type crossTenantCursor struct {
	Version int                           `json:"v"`
	Store   string                        `json:"s"`
	Before  map[string]datastore.Revision `json:"b"`
}

const crossTenantCursorVersion = 1

// tenantStream is one tenant's part of a cross-tenant read: its transactions newest
// first, with the next one not yet returned in head.
type tenantStream struct {
	name   string
	next   func() (*datastore.Transaction, error, bool)
	stop   func()
	head   *datastore.Transaction
	before datastore.Revision
}

// advance moves head to the tenant's next transaction; head is nil at the end. A
// tenant deleted while a query pages through it just ends.
func (t *tenantStream) advance() error {
	tx, err, ok := t.next()
	switch {
	case !ok, errors.Is(err, datastore.ErrTenantNotFound):
		t.head = nil
		return nil
	case err != nil:
		return err
	}
	t.head = tx
	return nil
}

// newer reports whether a's head comes before b's in the merged order: newer commit
// time first, then tenant name.
func newer(a, b *tenantStream) bool {
	if !a.head.Time.Equal(b.head.Time) {
		return a.head.Time.After(b.head.Time)
	}
	return a.name < b.name
}

// readAuditLogAcrossTenants merges the audit trails of the tenants the key may read
// (narrowed by req.tenants), newest first by commit time. Within one tenant the
// order stays its revision order, which is what its own cursor resumes.
func (s *auditService) readAuditLogAcrossTenants(ctx context.Context, req *pb.ReadAuditLogRequest, filter datastore.TransactionFilter, size int) (*pb.ReadAuditLogResponse, error) {
	scope, err := s.crossTenantScope(ctx, principalFrom(ctx), req.GetTenants())
	if err != nil {
		return nil, err
	}
	var before map[string]datastore.Revision
	if req.GetPageToken() != "" {
		if before, err = s.decodeCrossTenantCursor(req.GetPageToken(), scope); err != nil {
			return nil, err
		}
	} else if before, err = s.tenantHeads(ctx, scope); err != nil {
		return nil, err
	}

	streams := make([]*tenantStream, 0, len(before))
	defer func() {
		for _, t := range streams {
			t.stop()
		}
	}()
	for _, name := range slices.Sorted(maps.Keys(before)) {
		f := filter
		f.Before = before[name]
		next, stop := iter.Pull2(s.ds.ReadTransactions(ctx, name, f))
		t := &tenantStream{name: name, next: next, stop: stop, before: f.Before}
		streams = append(streams, t)
		if err := t.advance(); err != nil {
			return nil, toStatus(err)
		}
	}

	out := &pb.ReadAuditLogResponse{}
	for len(out.Transactions) < size {
		var best *tenantStream
		for _, t := range streams {
			if t.head != nil && (best == nil || newer(t, best)) {
				best = t
			}
		}
		if best == nil {
			break
		}
		tx := best.head
		out.Transactions = append(out.Transactions, transactionToProto(best.name, tx, s.token(best.name, tx.Revision)))
		best.before = tx.Revision
		if err := best.advance(); err != nil {
			return nil, toStatus(err)
		}
	}
	cursor := crossTenantCursor{Version: crossTenantCursorVersion, Store: s.ds.UniqueID(), Before: map[string]datastore.Revision{}}
	for _, t := range streams {
		if t.head != nil {
			cursor.Before[t.name] = t.before
		}
	}
	if len(cursor.Before) > 0 {
		b, err := json.Marshal(cursor)
		if err != nil {
			return nil, toStatus(err)
		}
		out.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
	}
	return out, nil
}

// crossTenantScope is the set of tenants an all_tenants query reads: the named ones
// (the interceptor has checked the key may use them), else every tenant the key may
// use.
func (s *auditService) crossTenantScope(ctx context.Context, k *Key, named []string) (map[string]bool, error) {
	scope := map[string]bool{}
	if len(named) > 0 {
		for _, t := range named {
			scope[t] = true
		}
		return scope, nil
	}
	infos, err := s.ds.ListTenants(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	for _, ti := range infos {
		if k.allowsTenant(ti.Name) {
			scope[ti.Name] = true
		}
	}
	return scope, nil
}

// tenantHeads starts a cross-tenant read: each tenant from just after its head.
func (s *auditService) tenantHeads(ctx context.Context, scope map[string]bool) (map[string]datastore.Revision, error) {
	before := make(map[string]datastore.Revision, len(scope))
	for name := range scope {
		head, err := s.ds.HeadRevision(ctx, name)
		if err != nil {
			return nil, toStatus(err)
		}
		before[name] = head + 1
	}
	return before, nil
}

// decodeCrossTenantCursor reads an all_tenants page token. It must come from this
// store and name only tenants of the query's scope, so a token cannot widen what a
// key reads.
func (s *auditService) decodeCrossTenantCursor(token string, scope map[string]bool) (map[string]datastore.Revision, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	var c crossTenantCursor
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.Version != crossTenantCursorVersion {
		return nil, invalidf("page_token: not a page token of an all_tenants audit query; pass next_page_token of the previous page, with the same tenants")
	}
	if c.Store != s.ds.UniqueID() {
		return nil, invalidf("page_token: minted by another datastore (%q, this one is %q)", c.Store, s.ds.UniqueID())
	}
	var outside []string
	for name := range c.Before {
		if !scope[name] {
			outside = append(outside, name)
		}
	}
	if len(outside) > 0 {
		slices.Sort(outside)
		return nil, invalidf("page_token: names tenants %v outside this query's tenants; repeat the query with the tenants of the first page", outside)
	}
	return c.Before, nil
}

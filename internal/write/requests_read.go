package write

import (
	"context"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// The reads of access requests are served here, beside the changes, so both use one
// clock (expiry) and one engine (who may approve).

// GetAccessRequest reads request id at revision rev.
func (w *Writer) GetAccessRequest(ctx context.Context, tenant string, rev datastore.Revision, id string) (requests.AccessRequest, error) {
	return requests.Get(ctx, w.ds.SnapshotReader(tenant, rev), tenant, id)
}

// ListMyAccessRequests lists the requests requester made, at revision rev.
func (w *Writer) ListMyAccessRequests(ctx context.Context, tenant string, rev datastore.Revision, requester tuple.SubjectRef, q requests.Query) (requests.Page, error) {
	return requests.ListMine(ctx, w.ds.SnapshotReader(tenant, rev), requester, q, w.cfg.Now())
}

// ListAccessRequestInbox lists the pending requests approver may decide, at rev.
func (w *Writer) ListAccessRequestInbox(ctx context.Context, tenant string, rev datastore.Revision, approver tuple.SubjectRef, q requests.Query) (requests.Page, error) {
	return requests.ListInbox(ctx, w.eng, tenant, w.ds.SnapshotReader(tenant, rev), approver, q, w.cfg.Now())
}

// Now is the write path's clock, which decides when pending requests expire.
func (w *Writer) Now() time.Time { return w.cfg.Now() }

package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Watch streams the tenant's committed transactions after a token (or from now on),
// with their audit metadata, until the client ends the stream.
func (s *watchService) Watch(req *pb.WatchRequest, stream pb.WatchService_WatchServer) error {
	// A watch never ends by itself; it ends when the server shuts down so that the
	// shutdown does not wait for it. The client resumes with its last token.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return err
	}
	filters := make([]datastore.RelationshipFilter, len(req.GetFilters()))
	for i, f := range req.GetFilters() {
		if filters[i], err = filterFromProto(fmt.Sprintf("filters[%d]", i), f); err != nil {
			return err
		}
	}
	var after datastore.Revision
	if req.GetAfterToken() != "" {
		if after, err = s.decodeToken("after_token", tenant, req.GetAfterToken()); err != nil {
			return err
		}
	} else if after, err = s.ds.HeadRevision(ctx, tenant); err != nil {
		return toStatus(err)
	}

	for tx, err := range s.ds.Watch(ctx, tenant, after) {
		if err != nil {
			return s.watchEnded(err)
		}
		tx = filterTransaction(tx, filters)
		if tx == nil {
			continue
		}
		token := s.token(tenant, tx.Revision)
		if err := stream.Send(&pb.WatchResponse{Token: token, Transaction: transactionToProto(tenant, tx, token)}); err != nil {
			return err
		}
	}
	return s.watchEnded(ctx.Err())
}

// watchEnded is the status a watch ends with: UNAVAILABLE when the server is shutting
// down (the client should resume elsewhere), else the error's own.
func (s *Server) watchEnded(err error) error {
	select {
	case <-s.stopping:
		return status.Error(codes.Unavailable, "the server is shutting down: resume the watch on another server, or after the restart, with after_token set to the last token received")
	default:
	}
	return toStatus(err)
}

// filterTransaction keeps the changes matching any filter. It returns nil when a
// transaction is left with nothing to tell (no matching change, no schema).
func filterTransaction(tx *datastore.Transaction, filters []datastore.RelationshipFilter) *datastore.Transaction {
	if len(filters) == 0 {
		return tx
	}
	var kept []datastore.Change
	for _, c := range tx.Changes {
		for _, f := range filters {
			if f.Matches(c.Relationship) {
				kept = append(kept, c)
				break
			}
		}
	}
	if len(kept) == 0 && tx.Schema == nil {
		return nil
	}
	out := *tx
	out.Changes = kept
	return &out
}

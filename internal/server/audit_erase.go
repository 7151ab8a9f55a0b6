package server

import (
	"context"
	"encoding/json"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ErasureKind is the record kind of the receipt every erasure leaves in its tenant:
// one record per pseudonym, naming only the pseudonym.
const ErasureKind = "erasure"

// erasureReceipt is the data of an erasure record.
type erasureReceipt struct {
	Pseudonym             string    `json:"pseudonym"`
	Reason                string    `json:"reason,omitempty"`
	DecisionsDeleted      int       `json:"decisions_deleted"`
	TransactionsRewritten int       `json:"transactions_rewritten"`
	At                    time.Time `json:"at"`
}

// EraseSubject removes a subject's identifiers from the tenant's evidence: its
// decisions are deleted, and the audit trail names its pseudonym instead. The subject
// must hold no relationship any more (offboard it first), since live relationships
// would bring the identifier back into the next audit record that touches them. The
// erasure is recorded as a transaction of operation "erase" whose receipt record
// names only the pseudonym.
func (s *auditService) EraseSubject(ctx context.Context, req *pb.EraseSubjectRequest) (*pb.EraseSubjectResponse, error) {
	tenant, err := tenantName(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if req.GetSubject() == nil {
		return nil, invalidf("subject is required: the subject object to erase, such as user:bob")
	}
	subject, err := protoconv.ObjectFromProto("subject", req.GetSubject())
	if err != nil {
		return nil, err
	}
	if len(s.cfg.ErasureSecret) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "erasure needs a secret: start the server with --erasure-secret-file (or PEMBA_ERASURE_SECRET)")
	}
	eraser := s.cfg.Eraser
	if eraser == nil {
		return nil, status.Error(codes.FailedPrecondition, "this datastore cannot erase subjects")
	}
	if err := s.subjectHoldsNothing(ctx, tenant, subject.Type, subject.ID); err != nil {
		return nil, err
	}
	pseudonym := datastore.Pseudonym(s.cfg.ErasureSecret, subject)
	out := &pb.EraseSubjectResponse{Pseudonym: protoconv.ObjectToProto(pseudonym)}
	if s.decisions != nil {
		// Decisions still queued would be written after the deletion.
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.decisions.Flush(fctx)
		cancel()
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "flushing the decision log before erasure: %v", err)
		}
	}
	// Decisions an earlier run recorded go too, whether the log is on now or not.
	deleted, err := eraser.DeleteSubjectDecisions(ctx, tenant, subject)
	if err != nil {
		return nil, toStatus(err)
	}
	out.DecisionsDeleted = uint64(deleted)
	n, err := eraser.PseudonymizeAudit(ctx, tenant, subject, pseudonym)
	if err != nil {
		return nil, toStatus(err)
	}
	out.TransactionsRewritten = uint64(n)
	receipt, err := json.Marshal(erasureReceipt{
		Pseudonym: pseudonym.String(), Reason: req.GetReason(), DecisionsDeleted: int(out.DecisionsDeleted),
		TransactionsRewritten: n, At: s.writer.Now().UTC(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	meta := datastore.TxMetadata{Principal: principalFrom(ctx).Name, Reason: req.GetReason(), Operation: "erase"}
	rev, err := s.ds.ReadWriteTx(ctx, tenant, meta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.PutRecord(ctx, datastore.Record{Kind: ErasureKind, ID: pseudonym.String(), Data: receipt, Keys: []string{"pseudonym=" + pseudonym.String()}})
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out.Token = s.token(tenant, rev)
	s.log.Info("subject erased", "tenant", tenant, "pseudonym", pseudonym.String(), "decisions_deleted", out.DecisionsDeleted, "transactions_rewritten", n)
	return out, nil
}

// subjectHoldsNothing refuses an erasure while relationships still name the subject.
func (s *auditService) subjectHoldsNothing(ctx context.Context, tenant, typ, id string) error {
	head, err := s.ds.HeadRevision(ctx, tenant)
	if err != nil {
		return toStatus(err)
	}
	snap := s.ds.SnapshotReader(tenant, head)
	sf := datastore.SubjectFilter{Type: typ, IDs: []string{id}}
	found := func(r tuple.Relationship) error {
		return status.Errorf(codes.FailedPrecondition, "%s:%s is still named by relationships (such as %s): remove them first, for example with pemba offboard %s:%s, then erase", typ, id, r, typ, id)
	}
	for r, err := range snap.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{Limit: 1}) {
		if err != nil {
			return toStatus(err)
		}
		return found(r)
	}
	for r, err := range snap.QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: typ, ResourceIDs: []string{id}}, datastore.QueryOptions{Limit: 1}) {
		if err != nil {
			return toStatus(err)
		}
		return found(r)
	}
	return nil
}

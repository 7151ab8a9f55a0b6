package loadgen

import (
	"context"
	"fmt"

	"github.com/pemba-authz/pemba/bench/dataset"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// writeProbe writes while a read workload runs, and verifies every write's effect.
// Each worker grants, then revokes, then grants again, viewer on a document to a
// user of its own that no oracle question mentions, so the oracle's answers stay
// true while the data changes; after each write it checks that user with
// at_least_as_fresh and the write's token (allowed after a grant, denied after a
// revoke).
type writeProbe struct {
	s      *Suite
	docs   []tuple.ObjectRef
	prefix string // user ids are prefix<worker>
	reason string
	writes []int // per worker, only touched by that worker
}

// newWriteProbe takes the documents it writes to from the question pool qs.
func newWriteProbe(s *Suite, qs []dataset.CheckQuery, conc int, prefix, reason string) (*writeProbe, error) {
	p := &writeProbe{s: s, prefix: prefix, reason: reason, writes: make([]int, conc)}
	for _, q := range qs {
		if q.Resource.Type == dataset.TypeDocument {
			p.docs = append(p.docs, q.Resource)
			if len(p.docs) == 1000 {
				break
			}
		}
	}
	if len(p.docs) == 0 {
		return nil, fmt.Errorf("%w: no document in the question pool", ErrSkip)
	}
	return p, nil
}

// write makes worker w's next write and checks its effect.
func (p *writeProbe) write(ctx context.Context, w int) Outcome {
	n := p.writes[w]
	p.writes[w]++
	doc := p.docs[(n/2+w)%len(p.docs)]
	user := tuple.SubjectRef{Type: dataset.TypeUser, ID: fmt.Sprintf("%s%d", p.prefix, w)}
	r := tuple.Relationship{Resource: doc, Relation: "viewer", Subject: user}
	opn, grant := pb.RelationshipUpdate_OPERATION_TOUCH, n%2 == 0
	if !grant {
		opn = pb.RelationshipUpdate_OPERATION_DELETE
	}
	wr, err := p.s.Client.Relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{
		Tenant: p.s.Tenant, Updates: []*pb.RelationshipUpdate{{Operation: opn, Relationship: protoconv.RelationshipToProto(r)}}, Reason: p.reason,
	})
	if err != nil {
		return Outcome{Err: fmt.Errorf("write: %w", err)}
	}
	q := dataset.CheckQuery{Resource: doc, Permission: "viewer", Subject: user, ClientIP: p.s.Model.ClientIP(dataset.User{Staff: true}), Expected: grant}
	resp, err := p.s.Client.Permissions().Check(ctx, p.s.checkRequest(q, protoconv.AtLeastAsFresh(wr.GetToken())))
	if err != nil {
		return Outcome{Err: fmt.Errorf("read after write: %w", err)}
	}
	if m := verdict(q, resp.GetPermissionship()); m != "" {
		return Outcome{Mismatch: "read after write (at_least_as_fresh): " + m}
	}
	return Outcome{}
}

package server

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Conversions and shared steps of AccessRequestService.

var requestStates = map[requests.State]pb.AccessRequestState{
	requests.Pending:   pb.AccessRequestState_ACCESS_REQUEST_STATE_PENDING,
	requests.Approved:  pb.AccessRequestState_ACCESS_REQUEST_STATE_APPROVED,
	requests.Denied:    pb.AccessRequestState_ACCESS_REQUEST_STATE_DENIED,
	requests.Cancelled: pb.AccessRequestState_ACCESS_REQUEST_STATE_CANCELLED,
	requests.Expired:   pb.AccessRequestState_ACCESS_REQUEST_STATE_EXPIRED,
}

func stateFromProto(st pb.AccessRequestState) (requests.State, error) {
	if st == pb.AccessRequestState_ACCESS_REQUEST_STATE_UNSPECIFIED {
		return "", nil
	}
	for k, v := range requestStates {
		if v == st {
			return k, nil
		}
	}
	return "", invalidf("filter.state %d is not a known state", int32(st))
}

func optTimestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func optDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// accessRequestToProto converts a request, with its state as of now.
func (s *Server) accessRequestToProto(tenant string, r requests.AccessRequest) *pb.AccessRequest {
	out := &pb.AccessRequest{
		Id: r.ID, Relationship: protoconv.RelationshipToProto(r.Relationship()), Requester: protoconv.SubjectToProto(r.Requester),
		Organization: protoconv.OptionalObjectToProto(r.Organization), Reason: r.Reason, Duration: optDuration(r.Duration),
		State: requestStates[r.StateAt(s.writer.Now())], DecidedBy: protoconv.OptionalSubjectToProto(r.DecidedBy),
		DecisionReason: r.DecisionReason, CreatedAt: optTimestamp(r.CreatedAt), DecidedAt: optTimestamp(r.DecidedAt),
		ExpiresAt: optTimestamp(r.ExpiresAt), GrantExpiresAt: optTimestamp(r.GrantExpiration),
	}
	if r.Revision != 0 {
		out.Token = s.token(tenant, r.Revision)
	}
	for _, a := range r.Approvals {
		out.Approvals = append(out.Approvals, &pb.AccessRequestApproval{Approver: protoconv.SubjectToProto(a.Approver),
			Party: uint32(a.Party), Reason: a.Reason, ApprovedAt: optTimestamp(a.At), Duration: optDuration(a.Duration)})
	}
	return out
}

// durationFromProto parses an optional Go duration ("720h").
func durationFromProto(field, v string) (time.Duration, error) {
	if strings.TrimSpace(v) == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, invalidf("%s %q is not a duration such as \"720h\" or \"90m\"", field, truncate(v))
	}
	if d < 0 {
		return 0, invalidf("%s %q is negative", field, v)
	}
	return d, nil
}

// requestActor is the acting subject every call of the service names.
func requestActor(a *pb.SubjectReference) (tuple.SubjectRef, error) {
	if a == nil {
		return tuple.SubjectRef{}, invalidf("actor is required: name the subject the call is made by or for, such as user:alice")
	}
	return protoconv.SubjectFromProto("actor", a)
}

// decisionRequest is the common start of approve, deny and cancel.
func (s *Server) decisionRequest(ctx context.Context, tenant string, actor *pb.SubjectReference, id, reason string) (write.Request, error) {
	a, err := requestActor(actor)
	if err != nil {
		return write.Request{}, err
	}
	if strings.TrimSpace(id) == "" {
		return write.Request{}, invalidf("id is required: the access request's id")
	}
	return s.writeRequest(ctx, tenant, &a, reason), nil
}

// requestQuery reads a listing's filter and page.
func (s *Server) requestQuery(ctx context.Context, tenant string, f *pb.AccessRequestFilter, size uint32, pageToken string, c *pb.Consistency) (datastore.Revision, requests.Query, error) {
	var q requests.Query
	var err error
	if q.Organization, err = protoconv.OptionalObjectFromProto("filter.organization", f.GetOrganization()); err != nil {
		return 0, q, err
	}
	if q.State, err = stateFromProto(f.GetState()); err != nil {
		return 0, q, err
	}
	q.ResourceType = f.GetResourceType()
	q.Limit = int(min(size, requests.MaxPageSize))
	if pageToken == "" {
		rev, err := s.readRevision(ctx, tenant, c, engine.FullyConsistent)
		return rev, q, err
	}
	tok, after, ok := strings.Cut(pageToken, cursorSep)
	if !ok || after == "" {
		return 0, q, invalidf("page_token %q is malformed: pass the next_page_token of the previous page", truncate(pageToken))
	}
	rev, err := s.decodeToken("page_token", tenant, tok)
	if err != nil {
		return 0, q, err
	}
	if rev, err = s.engine.ResolveRevision(ctx, tenant, engine.Consistency{Mode: engine.AtExactSnapshot, Revision: rev}); err != nil {
		return 0, q, toStatus(err)
	}
	q.After = after
	return rev, q, nil
}

// requestPage converts a page; every page of a listing reads at its first's revision.
func (s *Server) requestPage(tenant string, rev datastore.Revision, p requests.Page) ([]*pb.AccessRequest, string) {
	out := make([]*pb.AccessRequest, len(p.Requests))
	for i, r := range p.Requests {
		out[i] = s.accessRequestToProto(tenant, r)
	}
	next := ""
	if p.Next != "" {
		next = s.token(tenant, rev) + cursorSep + p.Next
	}
	return out, next
}

package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// decisionCursor is the page token of ReadDecisions: the position of the last
// decision returned.
type decisionCursor struct {
	Version int    `json:"v"`
	Time    int64  `json:"t"`
	Tenant  string `json:"n"`
	Seq     uint64 `json:"q"`
}

// ReadDecisions returns one page of the decision log, newest first (by time, then
// tenant name, then the order of recording). The tenants it reads follow the rule of
// ReadAuditLog: one tenant, or with all_tenants every tenant the key may use.
func (s *auditService) ReadDecisions(ctx context.Context, req *pb.ReadDecisionsRequest) (*pb.ReadDecisionsResponse, error) {
	if s.decisions == nil {
		return nil, status.Error(codes.FailedPrecondition, "the decision log is off: start the server with --decision-log to record decisions")
	}
	f, err := decisionFilterFromProto(req)
	if err != nil {
		return nil, err
	}
	if f.Tenants, err = s.decisionTenants(ctx, req); err != nil {
		return nil, err
	}
	if req.GetPageToken() != "" {
		if f.Before, err = decodeDecisionCursor(req.GetPageToken()); err != nil {
			return nil, err
		}
	}
	size := s.limits.pageSize(req.GetPageSize())
	f.Limit = size + 1
	out := &pb.ReadDecisionsResponse{}
	var last datastore.Decision
	for d, err := range s.decisions.Store().ReadDecisions(ctx, f) {
		if err != nil {
			return nil, toStatus(err)
		}
		if len(out.Decisions) == size {
			b, _ := json.Marshal(decisionCursor{Version: 1, Time: last.Time.UnixNano(), Tenant: last.Tenant, Seq: last.Seq})
			out.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
			break
		}
		out.Decisions = append(out.Decisions, s.decisionToProto(d))
		last = d
	}
	return out, nil
}

// decisionTenants is the tenants a decision query reads; each must exist.
func (s *auditService) decisionTenants(ctx context.Context, req *pb.ReadDecisionsRequest) ([]string, error) {
	if !req.GetAllTenants() {
		if len(req.GetTenants()) > 0 {
			return nil, invalidf("tenants is a filter of all_tenants queries: set all_tenants, or name one tenant in tenant")
		}
		t, err := tenantName(req.GetTenant())
		if err != nil {
			return nil, err
		}
		if _, err := s.ds.HeadRevision(ctx, t); err != nil {
			return nil, toStatus(err)
		}
		return []string{t}, nil
	}
	if req.GetTenant() != "" {
		return nil, invalidf("tenant (%q) and all_tenants are exclusive: name tenants to read in tenants", req.GetTenant())
	}
	scope, err := s.crossTenantScope(ctx, principalFrom(ctx), req.GetTenants())
	if err != nil {
		return nil, err
	}
	for _, t := range req.GetTenants() {
		if _, err := s.ds.HeadRevision(ctx, t); err != nil {
			return nil, toStatus(err)
		}
	}
	names := make([]string, 0, len(scope))
	for t := range scope {
		names = append(names, t)
	}
	slices.Sort(names)
	return names, nil
}

func decisionFilterFromProto(req *pb.ReadDecisionsRequest) (datastore.DecisionFilter, error) {
	f := datastore.DecisionFilter{Permission: req.GetPermission(), Result: req.GetResult()}
	var err error
	if f.Subject, err = protoconv.ObjectPatternFromProto("subject", req.GetSubject()); err != nil {
		return f, err
	}
	if f.Resource, err = protoconv.ObjectPatternFromProto("resource", req.GetResource()); err != nil {
		return f, err
	}
	if f.Permission != "" {
		if err := tuple.ValidateRelationName("permission", f.Permission); err != nil {
			return f, invalidErr(err)
		}
	}
	switch f.Result {
	case "", "allowed", "denied", "conditional":
	default:
		return f, invalidf("result %q: use allowed, denied or conditional", f.Result)
	}
	if ts := req.GetSince(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return f, fieldErr("since", err)
		}
		f.Since = ts.AsTime()
	}
	if ts := req.GetUntil(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return f, fieldErr("until", err)
		}
		f.Until = ts.AsTime()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, invalidf("since (%s) must be before until (%s)", f.Since, f.Until)
	}
	return f, nil
}

func decodeDecisionCursor(token string) (*datastore.DecisionCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	var c decisionCursor
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.Version != 1 {
		return nil, invalidf("page_token: not a page token of ReadDecisions; pass next_page_token of the previous page")
	}
	return &datastore.DecisionCursor{Time: time.Unix(0, c.Time), Tenant: c.Tenant, Seq: c.Seq}, nil
}

func (s *auditService) decisionToProto(d datastore.Decision) *pb.Decision {
	return &pb.Decision{
		Tenant:     d.Tenant,
		DecidedAt:  timestamppb.New(d.Time),
		Principal:  d.Principal,
		Operation:  d.Operation,
		Resource:   &pb.ObjectReference{Type: d.Resource.Type, Id: d.Resource.ID},
		Permission: d.Permission,
		Subject:    protoconv.SubjectToProto(d.Subject),
		Result:     d.Result,
		Results:    uint32(d.Results),
		Token:      s.token(d.Tenant, d.Revision),
		Path:       d.Path,
	}
}

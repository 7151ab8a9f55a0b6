package authzen

import (
	"context"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Evaluation semantics of the evaluations endpoint.
const (
	semanticExecuteAll          = "execute_all"
	semanticDenyOnFirstDeny     = "deny_on_first_deny"
	semanticPermitOnFirstPermit = "permit_on_first_permit"
)

// check is one evaluation in Pemba's terms.
type check struct {
	resource   *pb.ObjectReference
	permission string
	subject    *pb.SubjectReference
	context    *structpb.Struct
}

// toCheck validates one evaluation and maps it onto a check; where names which
// evaluation it is in error messages ("" for the single endpoint).
func toCheck(r *evaluationRequest, where string) (*check, error) {
	if err := validateEntity(where+"subject", r.Subject, true); err != nil {
		return nil, badRequest("%v", err)
	}
	if err := validateAction(r.Action); err != nil {
		return nil, badRequest("%s%v", where, err)
	}
	if err := validateEntity(where+"resource", r.Resource, true); err != nil {
		return nil, badRequest("%v", err)
	}
	rel, err := subjectRelation(r.Subject)
	if err != nil {
		return nil, badRequest("%s%v", where, err)
	}
	ctxMap, err := caveatContext(r)
	if err != nil {
		return nil, badRequest("%s%v", where, err)
	}
	c := &check{
		resource:   &pb.ObjectReference{Type: r.Resource.Type, Id: pembaID(r.Resource.ID)},
		permission: r.Action.Name,
		subject:    &pb.SubjectReference{Type: r.Subject.Type, Id: pembaID(r.Subject.ID), Relation: rel},
	}
	if ctxMap != nil {
		if c.context, err = structpb.NewStruct(ctxMap); err != nil {
			return nil, badRequest("%scontext: %v", where, err)
		}
	}
	return c, nil
}

// decide turns a permissionship into a decision: true only when allowed.
func decide(p pb.Permissionship, missing []string) Decision {
	switch p {
	case pb.Permissionship_PERMISSIONSHIP_ALLOWED:
		return Decision{Decision: true}
	case pb.Permissionship_PERMISSIONSHIP_CONDITIONAL:
		names := make([]any, len(missing))
		for i, m := range missing {
			names[i] = m
		}
		return Decision{Context: map[string]any{
			"reason":          "the answer depends on context the request did not give",
			"missing_context": names,
		}}
	}
	return Decision{}
}

func (h *Handler) evaluation(ctx context.Context, tenant string, consistency *pb.Consistency, body []byte) (any, string, error) {
	var req evaluationRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, "", badRequest("%v", err)
	}
	c, err := toCheck(&req, "")
	if err != nil {
		return nil, "", err
	}
	return h.checkOne(ctx, tenant, consistency, c)
}

// checkOne answers one evaluation with a Check.
func (h *Handler) checkOne(ctx context.Context, tenant string, consistency *pb.Consistency, c *check) (any, string, error) {
	resp, err := h.perms.Check(ctx, &pb.CheckRequest{
		Tenant: tenant, Consistency: consistency,
		Resource: c.resource, Permission: c.permission, Subject: c.subject, Context: c.context,
	})
	if err != nil {
		return nil, "", err
	}
	return decide(resp.GetPermissionship(), resp.GetMissingContext()), resp.GetToken(), nil
}

// withDefaults fills an evaluation's absent entities from the request's top level.
func withDefaults(item, top evaluationRequest) evaluationRequest {
	if item.Subject == nil {
		item.Subject = top.Subject
	}
	if item.Action == nil {
		item.Action = top.Action
	}
	if item.Resource == nil {
		item.Resource = top.Resource
	}
	if item.Context == nil {
		item.Context = top.Context
	}
	return item
}

func (h *Handler) evaluations(ctx context.Context, tenant string, consistency *pb.Consistency, body []byte) (any, string, error) {
	var req evaluationsRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, "", badRequest("%v", err)
	}
	semantic := semanticExecuteAll
	if v, ok := req.Options["evaluations_semantic"]; ok {
		s, _ := v.(string)
		switch s {
		case semanticExecuteAll, semanticDenyOnFirstDeny, semanticPermitOnFirstPermit:
			semantic = s
		default:
			return nil, "", badRequest("options.evaluations_semantic %v is not one of %s, %s, %s", v, semanticExecuteAll, semanticDenyOnFirstDeny, semanticPermitOnFirstPermit)
		}
	}
	if len(req.Evaluations) == 0 {
		// No evaluations: the request is a single evaluation, answered as one.
		c, err := toCheck(&req.evaluationRequest, "")
		if err != nil {
			return nil, "", err
		}
		return h.checkOne(ctx, tenant, consistency, c)
	}
	items := make([]*pb.CheckBulkRequestItem, len(req.Evaluations))
	for i, e := range req.Evaluations {
		c, err := toCheck(ptr(withDefaults(e, req.evaluationRequest)), fmt.Sprintf("evaluations[%d].", i))
		if err != nil {
			return nil, "", err
		}
		items[i] = &pb.CheckBulkRequestItem{Resource: c.resource, Permission: c.permission, Subject: c.subject, Context: c.context}
	}
	resp, err := h.perms.CheckBulk(ctx, &pb.CheckBulkRequest{Tenant: tenant, Consistency: consistency, Items: items})
	if err != nil {
		return nil, "", err
	}
	out := make([]Decision, 0, len(items))
	for i, it := range resp.GetItems() {
		d := decide(it.GetPermissionship(), it.GetMissingContext())
		if e := it.GetError(); e != nil {
			// An evaluation that could not be made is denied, with its error.
			d = Decision{Context: map[string]any{"error": map[string]any{
				"status":  httpStatusOfCode(e.GetCode()),
				"message": itemMessage(i, e.GetMessage()),
			}}}
		}
		switch {
		case semantic == semanticDenyOnFirstDeny && !d.Decision:
			if d.Context == nil {
				d.Context = map[string]any{"code": "200", "reason": semanticDenyOnFirstDeny}
			}
			return evaluationsResponse{Evaluations: append(out, d)}, resp.GetToken(), nil
		case semantic == semanticPermitOnFirstPermit && d.Decision:
			return evaluationsResponse{Evaluations: append(out, d)}, resp.GetToken(), nil
		}
		out = append(out, d)
	}
	return evaluationsResponse{Evaluations: out}, resp.GetToken(), nil
}

func httpStatusOfCode(c int32) int {
	if c <= 0 {
		return http.StatusInternalServerError
	}
	return httpStatus(codes.Code(c))
}

func ptr[T any](v T) *T { return &v }

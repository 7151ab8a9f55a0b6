package authzen

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// pageToken is the opaque next_token of a search page: where the next page starts,
// the snapshot every page of the search is read at (so pages neither repeat nor skip
// results while writes land), and a digest of the request it belongs to.
type pageToken struct {
	Cursor   string `json:"c,omitempty"` // the lookup's own cursor
	Offset   int    `json:"o,omitempty"` // action search: results already given
	Snapshot string `json:"s"`
	Request  []byte `json:"r"`
}

func (t pageToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// requestDigest identifies a search request apart from its page token, so a token is
// only accepted with the request it was given for.
func requestDigest(req searchRequest) []byte {
	if req.Page != nil {
		p := *req.Page
		p.Token = ""
		req.Page = &p
	}
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	return sum[:16]
}

// page reads a search request's page object: its size and, for a later page, the
// decoded token, which must belong to this request.
func (h *Handler) page(req searchRequest) (limit int, tok *pageToken, err error) {
	limit = h.opts.MaxPageSize
	if req.Page == nil {
		return limit, nil, nil
	}
	if l := req.Page.Limit; l != nil {
		switch {
		case *l < 0:
			return 0, nil, badRequest("page.limit must not be negative, got %d", *l)
		case *l > 0 && *l < int64(limit):
			limit = int(*l)
		}
	}
	if req.Page.Token == "" {
		return limit, nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(req.Page.Token)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(raw, &t)
	}
	if err != nil || t.Snapshot == "" || t.Offset < 0 {
		return 0, nil, badRequest("page.token is not a token this PDP gave")
	}
	if string(t.Request) != string(requestDigest(req)) {
		return 0, nil, badRequest("page.token belongs to a different request: subject, action, resource, context and page.limit must stay as they were on the first page")
	}
	return limit, &t, nil
}

// searchContext is the caveat context of a search request.
func searchContext(req searchRequest) (*structpb.Struct, error) {
	m, err := caveatContext(&evaluationRequest{Subject: req.Subject, Action: req.Action, Resource: req.Resource, Context: req.Context})
	if err != nil || m == nil {
		return nil, err
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, badRequest("context: %v", err)
	}
	return s, nil
}

// readConsistency is the consistency of a search page: a later page reads at the
// snapshot of the first.
func readConsistency(c *pb.Consistency, tok *pageToken) *pb.Consistency {
	if tok != nil {
		return protoconv.AtExactSnapshot(tok.Snapshot)
	}
	return c
}

func decodeSearch(body []byte) (searchRequest, error) {
	var req searchRequest
	if err := decodeBody(body, &req); err != nil {
		return req, badRequest("%v", err)
	}
	return req, nil
}

// lookupResult is what LookupResources and LookupSubjects stream.
type lookupResult interface {
	GetToken() string
	GetCursor() string
	GetPermissionship() pb.Permissionship
}

// readPage reads one search page from a lookup stream that was asked for limit+1
// results: the first limit allowed ones become results (a conditional one needs
// context the request did not give, so it is none), and a further one means another
// page follows, which starts after the last result given.
func readPage[M lookupResult](recv func() (M, error), cursor string, limit int, req searchRequest, tok *pageToken, result func(M) any) (any, string, error) {
	results := []any{}
	var snapshot, next string
	for n := 0; ; n++ {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", err
		}
		snapshot = m.GetToken()
		if n == limit {
			next = pageToken{Cursor: cursor, Snapshot: snapshot, Request: requestDigest(req)}.encode()
			break
		}
		cursor = m.GetCursor()
		if m.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_ALLOWED {
			results = append(results, result(m))
		}
	}
	if snapshot == "" && tok != nil {
		snapshot = tok.Snapshot
	}
	return searchResponse{Page: &pageResponse{NextToken: next, Count: len(results)}, Results: results}, snapshot, nil
}

// search is a decoded, validated search request with its page and caveat context.
type search struct {
	req   searchRequest
	rel   string // the subject set's relation, if any
	limit int
	tok   *pageToken // nil on a first page
	ctx   *structpb.Struct
}

// parseSearch decodes and validates a search request. The entity searched for needs
// only its type (its id is ignored if present); the action search has no action.
func (h *Handler) parseSearch(body []byte, subjectID, action, resourceID bool) (*search, error) {
	req, err := decodeSearch(body)
	if err != nil {
		return nil, err
	}
	if err := validateEntity("subject", req.Subject, subjectID); err != nil {
		return nil, badRequest("%v", err)
	}
	if action {
		if err := validateAction(req.Action); err != nil {
			return nil, badRequest("%v", err)
		}
	}
	if err := validateEntity("resource", req.Resource, resourceID); err != nil {
		return nil, badRequest("%v", err)
	}
	sr := &search{req: req}
	if sr.rel, err = subjectRelation(req.Subject); err != nil {
		return nil, badRequest("%v", err)
	}
	if sr.limit, sr.tok, err = h.page(req); err != nil {
		return nil, err
	}
	if sr.ctx, err = searchContext(req); err != nil {
		return nil, err
	}
	return sr, nil
}

func (h *Handler) searchSubject(ctx context.Context, tenant string, consistency *pb.Consistency, body []byte) (any, string, error) {
	sr, err := h.parseSearch(body, false, true, true)
	if err != nil {
		return nil, "", err
	}
	req, rel, limit, tok, cctx := sr.req, sr.rel, sr.limit, sr.tok, sr.ctx
	in := &pb.LookupSubjectsRequest{
		Tenant: tenant, Consistency: readConsistency(consistency, tok),
		Resource:   &pb.ObjectReference{Type: req.Resource.Type, Id: pembaID(req.Resource.ID)},
		Permission: req.Action.Name, SubjectType: req.Subject.Type, SubjectRelation: rel,
		Context: cctx, Limit: uint32(limit + 1),
	}
	if tok != nil {
		in.Cursor = tok.Cursor
	}
	stream, err := h.perms.LookupSubjects(ctx, in)
	if err != nil {
		return nil, "", err
	}
	return readPage(stream.Recv, in.Cursor, limit, req, tok, func(m *pb.LookupSubjectsResponse) any {
		e := Entity{Type: req.Subject.Type, ID: authzenID(m.GetSubjectId())}
		if rel != "" {
			e.Properties = map[string]any{relationProperty: rel}
		}
		if ex := m.GetExcludedSubjectIds(); len(ex) > 0 {
			ids := make([]any, len(ex))
			for i, id := range ex {
				ids[i] = authzenID(id)
			}
			if e.Properties == nil {
				e.Properties = map[string]any{}
			}
			e.Properties["excluded_ids"] = ids
		}
		return e
	})
}

func (h *Handler) searchResource(ctx context.Context, tenant string, consistency *pb.Consistency, body []byte) (any, string, error) {
	sr, err := h.parseSearch(body, true, true, false)
	if err != nil {
		return nil, "", err
	}
	req, rel, limit, tok, cctx := sr.req, sr.rel, sr.limit, sr.tok, sr.ctx
	in := &pb.LookupResourcesRequest{
		Tenant: tenant, Consistency: readConsistency(consistency, tok),
		ResourceType: req.Resource.Type, Permission: req.Action.Name,
		Subject: &pb.SubjectReference{Type: req.Subject.Type, Id: pembaID(req.Subject.ID), Relation: rel},
		Context: cctx, Limit: uint32(limit + 1),
	}
	if tok != nil {
		in.Cursor = tok.Cursor
	}
	stream, err := h.perms.LookupResources(ctx, in)
	if err != nil {
		return nil, "", err
	}
	return readPage(stream.Recv, in.Cursor, limit, req, tok, func(m *pb.LookupResourcesResponse) any {
		return Entity{Type: req.Resource.Type, ID: authzenID(m.GetResourceId())}
	})
}

func (h *Handler) searchAction(ctx context.Context, tenant string, consistency *pb.Consistency, body []byte) (any, string, error) {
	sr, err := h.parseSearch(body, true, false, true)
	if err != nil {
		return nil, "", err
	}
	req, rel, limit, tok, cctx := sr.req, sr.rel, sr.limit, sr.tok, sr.ctx
	resp, err := h.perms.ListPermissions(ctx, &pb.ListPermissionsRequest{
		Tenant: tenant, Consistency: readConsistency(consistency, tok),
		Resource: &pb.ObjectReference{Type: req.Resource.Type, Id: pembaID(req.Resource.ID)},
		Subject:  &pb.SubjectReference{Type: req.Subject.Type, Id: pembaID(req.Subject.ID), Relation: rel},
		Context:  cctx,
	})
	if err != nil {
		return nil, "", err
	}
	var allowed []string
	for _, p := range resp.GetPermissions() {
		if p.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_ALLOWED {
			allowed = append(allowed, p.GetPermission())
		}
	}
	start := 0
	if tok != nil {
		start = min(tok.Offset, len(allowed))
	}
	end := min(start+limit, len(allowed))
	results := []any{}
	for _, name := range allowed[start:end] {
		results = append(results, Action{Name: name})
	}
	next := ""
	if end < len(allowed) {
		next = pageToken{Offset: end, Snapshot: resp.GetToken(), Request: requestDigest(req)}.encode()
	}
	return searchResponse{Page: &pageResponse{NextToken: next, Count: len(results)}, Results: results}, resp.GetToken(), nil
}

// itemMessage names an evaluation as the request did (evaluations[i]) in the error
// of a CheckBulk item (items[i]).
func itemMessage(i int, msg string) string {
	if strings.Contains(msg, "items[") {
		return strings.Replace(msg, "items[", "evaluations[", 1)
	}
	return fmt.Sprintf("evaluations[%d]: %s", i, msg)
}

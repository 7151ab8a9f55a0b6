package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Bounds of what one page reads, so a huge tenant costs a page no more than this.
const (
	maxOrgs       = 2000
	maxReadRels   = 5000
	idsPerFilter  = 100
	maxArrowReads = 100
)

// api is the console's client of the v1 services. Every call is made as an acting
// identity: the bearer key it carries, the tenant, and for a person the acting
// subject that the write path authorises.
type api struct {
	perms   pb.PermissionServiceClient
	rels    pb.RelationshipServiceClient
	schemas pb.SchemaServiceClient
	// The services the governance pages call directly.
	requests   pb.AccessRequestServiceClient
	audit      pb.AuditServiceClient
	governance pb.GovernanceServiceClient
	cfg        Config

	mu       sync.Mutex
	compiled map[string]*schema.Schema // compiled schemas by source text
}

func newAPI(conn grpc.ClientConnInterface, cfg Config) *api {
	return &api{
		perms:      pb.NewPermissionServiceClient(conn),
		rels:       pb.NewRelationshipServiceClient(conn),
		schemas:    pb.NewSchemaServiceClient(conn),
		requests:   pb.NewAccessRequestServiceClient(conn),
		audit:      pb.NewAuditServiceClient(conn),
		governance: pb.NewGovernanceServiceClient(conn),
		cfg:        cfg,
		compiled:   map[string]*schema.Schema{},
	}
}

// actor is who a call is made for.
type actor struct {
	bearer string
	tenant string
	// subject is the acting subject of a person; nil for an operator, whose admin
	// key writes directly.
	subject *tuple.SubjectRef
}

// actorOf is the identity of a signed-in session.
func (h *Handler) actorOf(s *session) actor {
	var a actor
	h.sessions.update(s, func(s *session) {
		a = actor{bearer: h.opts.Bearer, tenant: s.tenant, subject: s.subject}
		if s.operator != "" {
			a.bearer = s.key
		}
	})
	return a
}

// ctx carries the actor's key on an outgoing call.
func (a actor) ctx(parent context.Context) context.Context {
	if a.bearer == "" {
		return parent
	}
	return metadata.AppendToOutgoingContext(parent, "authorization", "Bearer "+a.bearer)
}

// actorProto is the acting subject of a write, nil for an operator.
func (a actor) actorProto() *pb.SubjectReference {
	if a.subject == nil {
		return nil
	}
	return protoconv.SubjectToProto(*a.subject)
}

// refusal is an error the API returned, shown to the person as the API gave it.
type refusal struct {
	code string
	msg  string
}

func (r *refusal) Error() string { return r.code + ": " + r.msg }

// apiError turns a call's error into a refusal naming the API's code and message.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	return &refusal{code: protoconv.CodeName(st.Code()), msg: st.Message()}
}

// check reports whether subject has permission on resource, fully consistent so a
// page reflects the write just made. A conditional answer counts as no: the write
// path refuses it too.
func (c *api) check(ctx context.Context, a actor, resource tuple.ObjectRef, permission string, subject tuple.SubjectRef) (bool, error) {
	resp, err := c.perms.Check(a.ctx(ctx), &pb.CheckRequest{
		Tenant: a.tenant, Consistency: protoconv.FullyConsistent(),
		Resource: protoconv.ObjectToProto(resource), Permission: permission,
		Subject: protoconv.SubjectToProto(subject),
	})
	if err != nil {
		return false, apiError(err)
	}
	return resp.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_ALLOWED, nil
}

// lookupOrgs lists the organisations subject holds the admin permission on.
func (c *api) lookupOrgs(ctx context.Context, a actor, subject tuple.SubjectRef) ([]string, error) {
	var ids []string
	err := pages(maxOrgs, func(cursor string, limit int) (receiver[*pb.LookupResourcesResponse], error) {
		return c.perms.LookupResources(a.ctx(ctx), &pb.LookupResourcesRequest{
			Tenant: a.tenant, Consistency: protoconv.FullyConsistent(),
			ResourceType: c.cfg.OrganizationType, Permission: c.cfg.AdminPermission,
			Subject: protoconv.SubjectToProto(subject), Cursor: cursor, Limit: uint32(limit),
		})
	}, func(r *pb.LookupResourcesResponse) bool {
		if r.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
			return false
		}
		ids = append(ids, r.GetResourceId())
		return true
	})
	return ids, err
}

// read returns the relationships matching filter, at most limit of them.
func (c *api) read(ctx context.Context, a actor, f *pb.RelationshipFilter, limit int) ([]*pb.Relationship, error) {
	var out []*pb.Relationship
	err := pages(limit, func(cursor string, limit int) (receiver[*pb.ReadRelationshipsResponse], error) {
		return c.rels.ReadRelationships(a.ctx(ctx), &pb.ReadRelationshipsRequest{
			Tenant: a.tenant, Consistency: protoconv.FullyConsistent(), Filter: f, Cursor: cursor, Limit: uint32(limit),
		})
	}, func(r *pb.ReadRelationshipsResponse) bool {
		out = append(out, r.GetRelationship())
		return true
	})
	return out, err
}

// receiver is a server stream of M.
type receiver[M any] interface{ Recv() (M, error) }

// pages reads a paginated stream of the API: open starts a page at cursor for at
// most limit messages, take keeps a message (or not), and reading stops once limit
// messages are kept, at the last page, or at the first error.
func pages[M interface{ GetCursor() string }](limit int, open func(cursor string, limit int) (receiver[M], error), take func(M) bool) error {
	kept, cursor := 0, ""
	for kept < limit {
		stream, err := open(cursor, min(1000, limit-kept))
		if err != nil {
			return apiError(err)
		}
		n, next := 0, ""
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return apiError(err)
			}
			n++
			next = m.GetCursor()
			if take(m) {
				kept++
			}
		}
		if n == 0 || next == "" {
			return nil
		}
		cursor = next
	}
	return nil
}

// parents maps each of the organisations to its parent organisation, where it has one.
func (c *api) parents(ctx context.Context, a actor, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(ids); start += idsPerFilter {
		chunk := ids[start:min(len(ids), start+idsPerFilter)]
		rels, err := c.read(ctx, a, &pb.RelationshipFilter{
			ResourceType: c.cfg.OrganizationType, ResourceIds: chunk, Relation: "parent",
			SubjectFilter: &pb.SubjectFilter{Type: c.cfg.OrganizationType},
		}, maxReadRels)
		if err != nil {
			return nil, err
		}
		for _, r := range rels {
			out[r.GetResource().GetId()] = r.GetSubject().GetId()
		}
	}
	return out, nil
}

// schema returns the tenant's compiled schema.
func (c *api) schema(ctx context.Context, a actor) (*schema.Schema, error) {
	resp, err := c.schemas.ReadSchema(a.ctx(ctx), &pb.ReadSchemaRequest{Tenant: a.tenant, Consistency: protoconv.FullyConsistent()})
	if err != nil {
		return nil, apiError(err)
	}
	src := resp.GetSchema()
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.compiled[src]; ok {
		return s, nil
	}
	s, err := schema.Compile("schema.zed", src)
	if err != nil {
		return nil, fmt.Errorf("compiling the tenant's schema: %w", err)
	}
	if len(c.compiled) >= 16 { // tenants rarely change schema; keep a handful
		clear(c.compiled)
	}
	c.compiled[src] = s
	return s, nil
}

// write applies updates in one transaction, on behalf of the actor's subject.
func (c *api) write(ctx context.Context, a actor, reason string, updates ...*pb.RelationshipUpdate) error {
	_, err := c.rels.WriteRelationships(a.ctx(ctx), &pb.WriteRelationshipsRequest{
		Tenant: a.tenant, Updates: updates, Actor: a.actorProto(), Reason: reason,
	})
	return apiError(err)
}

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// How the adversarial suite sends a request: the same message over gRPC, or as its
// JSON form (or a raw body) over REST, with the key a case names.

// advMethod is an RPC the suite can send over both transports.
type advMethod struct {
	full         string
	route        string
	newReq       func() proto.Message
	newResp      func() proto.Message
	clientStream bool
}

// rpc describes an RPC by its request and response types.
func rpc[Req, Resp any, PReq interface {
	*Req
	proto.Message
}, PResp interface {
	*Resp
	proto.Message
}](full, route string, clientStream bool) advMethod {
	return advMethod{full: full, route: route, clientStream: clientStream,
		newReq: func() proto.Message { return PReq(new(Req)) }, newResp: func() proto.Message { return PResp(new(Resp)) }}
}

var advMethods = map[string]advMethod{
	"write":        rpc[pb.WriteRelationshipsRequest, pb.WriteRelationshipsResponse](pb.RelationshipService_WriteRelationships_FullMethodName, "/v1/relationships/write", false),
	"delete":       rpc[pb.DeleteRelationshipsRequest, pb.DeleteRelationshipsResponse](pb.RelationshipService_DeleteRelationships_FullMethodName, "/v1/relationships/delete", false),
	"import":       rpc[pb.ImportRelationshipsRequest, pb.ImportRelationshipsResponse](pb.RelationshipService_ImportRelationships_FullMethodName, "/v1/relationships/import", true),
	"offboard":     rpc[pb.OffboardRequest, pb.OffboardResponse](pb.GovernanceService_Offboard_FullMethodName, "/v1/governance/offboard", false),
	"actor_grants": rpc[pb.ListActorGrantsRequest, pb.ListActorGrantsResponse](pb.GovernanceService_ListActorGrants_FullMethodName, "/v1/governance/actor-grants", false),
	"check":        rpc[pb.CheckRequest, pb.CheckResponse](pb.PermissionService_Check_FullMethodName, "/v1/permissions/check", false),
	"audit":        rpc[pb.ReadAuditLogRequest, pb.ReadAuditLogResponse](pb.AuditService_ReadAuditLog_FullMethodName, "/v1/audit/read", false),
	"schema_write": rpc[pb.WriteSchemaRequest, pb.WriteSchemaResponse](pb.SchemaService_WriteSchema_FullMethodName, "/v1/schema/write", false),
}

// advOutcome is how a request ended on one transport.
type advOutcome struct {
	code       codes.Code
	msg        string
	httpStatus int // REST only
	resp       proto.Message
}

// build turns a request into its message: the JSON form, then the shorthands.
func (r advRequest) build(t *testing.T, p placeholders) proto.Message {
	t.Helper()
	m, ok := advMethods[r.method()]
	if !ok {
		t.Fatalf("unknown method %q", r.Method)
	}
	msg := m.newReq()
	if r.Request != nil {
		raw, err := json.Marshal(r.Request)
		if err != nil {
			t.Fatal(err)
		}
		if err := protojson.Unmarshal([]byte(p.expand(t, string(raw))), msg); err != nil {
			t.Fatalf("request: %v", err)
		}
	}
	rm := msg.ProtoReflect()
	field := func(name protoreflect.Name) protoreflect.FieldDescriptor {
		fd := rm.Descriptor().Fields().ByName(name)
		if fd == nil {
			t.Fatalf("method %s has no field %s", r.method(), name)
		}
		return fd
	}
	if r.Tenant != "" {
		rm.Set(field("tenant"), protoreflect.ValueOfString(r.Tenant))
	}
	if r.Reason != "" {
		rm.Set(field("reason"), protoreflect.ValueOfString(p.expand(t, r.Reason)))
	}
	if r.Actor != "" {
		sub, err := tuple.ParseSubject(r.Actor)
		if err != nil {
			t.Fatalf("actor %q: %v", r.Actor, err)
		}
		rm.Set(field("actor"), protoreflect.ValueOfMessage(protoconv.SubjectToProto(sub).ProtoReflect()))
	}
	lines := append(r.Generate.lines(), r.Updates...)
	if r.Generate != nil && r.Generate.Field == "contextual_relationships" {
		req := msg.(*pb.CheckRequest)
		for _, l := range r.Generate.lines() {
			req.ContextualRelationships = append(req.ContextualRelationships, protoconv.RelationshipToProto(tuple.MustParse(l)))
		}
		lines = r.Updates
	}
	if len(lines) > 0 {
		req, ok := msg.(*pb.WriteRelationshipsRequest)
		if !ok {
			t.Fatalf("updates on method %s", r.method())
		}
		for _, l := range lines {
			req.Updates = append(req.Updates, updateFromText(t, p.expand(t, l)))
		}
	}
	return msg
}

func (r advRequest) method() string {
	if r.Method == "" {
		return "write"
	}
	return r.Method
}

func (r advRequest) key() string {
	if r.Key == "" {
		return "delegate"
	}
	return r.Key
}

// updateFromText reads "create REL", "touch REL" or "delete REL".
func updateFromText(t *testing.T, s string) *pb.RelationshipUpdate {
	t.Helper()
	op, rel, ok := strings.Cut(s, " ")
	ops := map[string]pb.RelationshipUpdate_Operation{
		"create": pb.RelationshipUpdate_OPERATION_CREATE, "touch": pb.RelationshipUpdate_OPERATION_TOUCH, "delete": pb.RelationshipUpdate_OPERATION_DELETE,
	}
	if !ok || ops[op] == 0 {
		t.Fatalf("update %q: want create, touch or delete and a relationship", s)
	}
	parsed, err := tuple.Parse(rel)
	if err != nil {
		t.Fatalf("update %q: %v", s, err)
	}
	return &pb.RelationshipUpdate{Operation: ops[op], Relationship: protoconv.RelationshipToProto(parsed)}
}

// updateText prints an update as updateFromText reads it, for comparisons.
func updateText(u *pb.RelationshipUpdate) string {
	op := strings.ToLower(strings.TrimPrefix(u.GetOperation().String(), "OPERATION_"))
	return op + " " + relationshipFromProtoText(u.GetRelationship())
}

// send sends a request over one transport.
func (ts *testServer) send(t *testing.T, transport string, r advRequest, msg proto.Message, p placeholders) advOutcome {
	t.Helper()
	m := advMethods[r.method()]
	secret, ok := advKeys[r.key()]
	if !ok {
		t.Fatalf("unknown key %q", r.Key)
	}
	if transport == "grpc" {
		return ts.sendGRPC(m, secret, r.Metadata, msg)
	}
	body := []byte(p.expand(t, r.Body))
	if r.Body == "" {
		var err error
		if body, err = protojson.Marshal(msg); err != nil {
			t.Fatal(err)
		}
	}
	return ts.sendREST(t, m, secret, r.Metadata, body)
}

func (ts *testServer) sendGRPC(m advMethod, secret string, md map[string]string, msg proto.Message) advOutcome {
	ctx, cancel := context.WithTimeout(as(secret), 30*time.Second)
	defer cancel()
	for k, v := range md {
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	resp := m.newResp()
	var err error
	if m.clientStream {
		var s grpc.ClientStream
		s, err = ts.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, m.full)
		if err == nil {
			if err = s.SendMsg(msg); err == nil || err == io.EOF {
				if err = s.CloseSend(); err == nil {
					err = s.RecvMsg(resp)
				}
			} else {
				err = s.RecvMsg(resp)
			}
		}
	} else {
		err = ts.conn.Invoke(ctx, m.full, msg, resp)
	}
	st := status.Convert(err)
	return advOutcome{code: st.Code(), msg: st.Message(), resp: resp}
}

func (ts *testServer) sendREST(t *testing.T, m advMethod, secret string, md map[string]string, body []byte) advOutcome {
	t.Helper()
	out, err := ts.postREST(m, secret, md, body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// postREST sends one REST request; it needs no *testing.T, so goroutines may call it.
func (ts *testServer) postREST(m advMethod, secret string, md map[string]string, body []byte) (advOutcome, error) {
	req, err := http.NewRequest(http.MethodPost, ts.base+m.route, bytes.NewReader(body))
	if err != nil {
		return advOutcome{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	for k, v := range md {
		req.Header.Set("Grpc-Metadata-"+k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return advOutcome{}, fmt.Errorf("POST %s: %w", m.route, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return advOutcome{}, err
	}
	out := advOutcome{httpStatus: resp.StatusCode, resp: m.newResp()}
	if resp.StatusCode == http.StatusOK {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(firstJSONLine(raw), out.resp); err != nil {
			return advOutcome{}, fmt.Errorf("POST %s: %w\n%s", m.route, err, raw)
		}
		return out, nil
	}
	var e pb.Error
	if err := protojson.Unmarshal(raw, &e); err != nil {
		return advOutcome{}, fmt.Errorf("POST %s: HTTP %d with a body that is not an error: %s", m.route, resp.StatusCode, raw)
	}
	out.code, out.msg = codes.Code(e.GetCode()), e.GetMessage()
	return out, nil
}

// firstJSONLine is the first message of a (possibly streamed) JSON answer.
func firstJSONLine(raw []byte) []byte {
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	return line
}

// advHTTPStatus is the HTTP status each code has over REST (README "Errors").
var advHTTPStatus = map[codes.Code]int{
	codes.OK: http.StatusOK, codes.InvalidArgument: http.StatusBadRequest, codes.FailedPrecondition: http.StatusBadRequest,
	codes.Unauthenticated: http.StatusUnauthorized, codes.PermissionDenied: http.StatusForbidden, codes.NotFound: http.StatusNotFound,
	codes.AlreadyExists: http.StatusConflict, codes.ResourceExhausted: http.StatusTooManyRequests,
}

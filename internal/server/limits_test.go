package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestLimits(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		c.Limits = server.Limits{
			MaxMessageSize:             64 << 10,
			MaxUpdatesPerWrite:         3,
			MaxPreconditions:           2,
			MaxCheckBulkItems:          2,
			MaxContextualRelationships: 1,
			MaxPageSize:                5,
			MaxLookupLimit:             5,
			MaxDeleteLimit:             4,
		}
	})
	ts.writeSchema(t, "")
	rel := func(i int) *pb.Relationship {
		return protoconv.RelationshipToProto(mustParse(fmt.Sprintf("document:d%d#viewer@user:u%d", i, i)))
	}
	updates := func(n int) []*pb.RelationshipUpdate {
		var out []*pb.RelationshipUpdate
		for i := range n {
			out = append(out, &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel(i)})
		}
		return out
	}
	filter := &pb.RelationshipFilter{ResourceType: "document"}
	pre := func(n int) []*pb.Precondition {
		var out []*pb.Precondition
		for range n {
			out = append(out, &pb.Precondition{Operation: pb.Precondition_OPERATION_MUST_NOT_MATCH, Filter: &pb.RelationshipFilter{ResourceType: "group"}})
		}
		return out
	}
	check := checkReq("", "document:d1", "view", "user:u1")
	ctx := as(adminSecret)

	// At the limit: accepted.
	if _, err := ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: updates(3), Preconditions: pre(2)}); err != nil {
		t.Fatalf("write at the limits: %v", err)
	}

	_, err := ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: updates(4)})
	wantCode(t, err, codes.InvalidArgument, "updates: 4 exceeds the limit of 3", "--max-updates-per-write")

	_, err = ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: updates(1), Preconditions: pre(3)})
	wantCode(t, err, codes.InvalidArgument, "preconditions: 3 exceeds the limit of 2", "--max-preconditions")

	_, err = ts.relationships().DeleteRelationships(ctx, &pb.DeleteRelationshipsRequest{Filter: filter, Limit: 5})
	wantCode(t, err, codes.InvalidArgument, "limit: 5 exceeds the limit of 4", "--max-delete-limit")

	bulk := &pb.CheckBulkRequest{}
	for range 3 {
		bulk.Items = append(bulk.Items, &pb.CheckBulkRequestItem{Resource: check.Resource, Permission: "view", Subject: check.Subject})
	}
	_, err = ts.permissions().CheckBulk(ctx, bulk)
	wantCode(t, err, codes.InvalidArgument, "items: 3 exceeds the limit of 2", "--max-check-bulk-items")

	withContextual := checkReq("", "document:d1", "view", "user:u1")
	withContextual.ContextualRelationships = []*pb.Relationship{rel(7), rel(8)}
	_, err = ts.permissions().Check(ctx, withContextual)
	wantCode(t, err, codes.InvalidArgument, "contextual_relationships: 2 exceeds the limit of 1", "--max-contextual-relationships")

	lookup, err := ts.permissions().LookupResources(ctx, &pb.LookupResourcesRequest{ResourceType: "document", Permission: "view", Subject: check.Subject, Limit: 6})
	if err == nil {
		_, err = lookup.Recv()
	}
	wantCode(t, err, codes.InvalidArgument, "limit: 6 exceeds the limit of 5", "--max-lookup-limit")

	_, err = ts.audit().ReadAuditLog(ctx, &pb.ReadAuditLogRequest{PageSize: 9})
	wantCode(t, err, codes.InvalidArgument, "page_size: 9 exceeds the limit of 5")

	// A read asking for no limit gets one page.
	ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: updates(3)})
	for i := 3; i < 9; i += 3 {
		var ups []*pb.RelationshipUpdate
		for j := i; j < i+3; j++ {
			ups = append(ups, &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: rel(j)})
		}
		if _, err := ts.relationships().WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: ups}); err != nil {
			t.Fatal(err)
		}
	}
	read, err := ts.relationships().ReadRelationships(ctx, &pb.ReadRelationshipsRequest{Filter: filter, Consistency: fully()})
	if err != nil {
		t.Fatal(err)
	}
	if n := countStream(t, read.Recv); n != 5 {
		t.Errorf("read without a limit returned %d relationships, want the page limit 5", n)
	}

	// Message size: gRPC refuses with RESOURCE_EXHAUSTED, REST with 413.
	big := &pb.WriteSchemaRequest{Schema: "definition user {}\n" + strings.Repeat("// padding\n", 10000)}
	_, err = ts.schemas().WriteSchema(ctx, big)
	wantCode(t, err, codes.ResourceExhausted)
	code, body := ts.rest(t, "POST", "/v1/schema/write", adminSecret, fmt.Sprintf(`{"schema":%q}`, big.Schema))
	wantHTTPError(t, code, body, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "65536 bytes", "--max-message-size")

	// REST gets the same limit errors as 400.
	code, body = ts.rest(t, "POST", "/v1/permissions/checkbulk", adminSecret,
		`{"items":[{"resource":{"type":"document","id":"a1"},"permission":"view","subject":{"type":"user","id":"b1"}},
		           {"resource":{"type":"document","id":"a1"},"permission":"view","subject":{"type":"user","id":"b1"}},
		           {"resource":{"type":"document","id":"a1"},"permission":"view","subject":{"type":"user","id":"b1"}}]}`)
	wantHTTPError(t, code, body, http.StatusBadRequest, codes.InvalidArgument, "items: 3 exceeds the limit of 2")
}

func fully() *pb.Consistency {
	return &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}
}

func countStream[T any](t *testing.T, recv func() (T, error)) int {
	t.Helper()
	n := 0
	for {
		_, err := recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("stream: %v", err)
			}
			return n
		}
		n++
	}
}

// stubEngine is an Engine whose Check runs a test's function; the other methods are
// never called by the tests that use it.
type stubEngine struct {
	check func(ctx context.Context) (engine.CheckResult, error)
}

func (e *stubEngine) ResolveRevision(context.Context, string, engine.Consistency) (datastore.Revision, error) {
	return 0, nil
}
func (e *stubEngine) Check(ctx context.Context, _ engine.CheckRequest) (engine.CheckResult, error) {
	return e.check(ctx)
}
func (e *stubEngine) CheckBulk(context.Context, []engine.CheckRequest) []engine.BulkResult {
	panic("not used")
}
func (e *stubEngine) Expand(context.Context, engine.ExpandRequest) (*engine.ExpandNode, error) {
	panic("not used")
}
func (e *stubEngine) LookupResources(context.Context, engine.LookupResourcesRequest) iter.Seq2[engine.ResourceResult, error] {
	panic("not used")
}
func (e *stubEngine) LookupSubjects(context.Context, engine.LookupSubjectsRequest) iter.Seq2[engine.SubjectResult, error] {
	panic("not used")
}
func (e *stubEngine) Schema(context.Context, string, datastore.Revision) (*schema.Schema, error) {
	panic("not used")
}
func (e *stubEngine) Permissions(context.Context, engine.PermissionsRequest) ([]engine.PermissionResult, error) {
	panic("not used")
}
func (e *stubEngine) ForgetTenant(string) {}

func TestDefaultDeadline(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		c.Limits.DefaultDeadline = 50 * time.Millisecond
		c.Engine = &stubEngine{check: func(ctx context.Context) (engine.CheckResult, error) {
			<-ctx.Done()
			return engine.CheckResult{}, ctx.Err()
		}}
	})
	start := time.Now()
	_, err := ts.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:u1"))
	wantCode(t, err, codes.DeadlineExceeded)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("the default deadline did not apply: the call took %s", elapsed)
	}
	// A client deadline shorter than the default is kept as it is.
	ctx, cancel := context.WithTimeout(as(readerSecret), 10*time.Millisecond)
	defer cancel()
	_, err = ts.permissions().Check(ctx, checkReq("", "document:d1", "view", "user:u1"))
	wantCode(t, err, codes.DeadlineExceeded)
}

func TestPanicBecomesInternal(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		c.Engine = &stubEngine{check: func(context.Context) (engine.CheckResult, error) {
			panic("engine bug")
		}}
	})
	_, err := ts.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:u1"))
	wantCode(t, err, codes.Internal, "internal error while handling Check")
	if !strings.Contains(ts.logs.String(), "engine bug") || !strings.Contains(ts.logs.String(), "panic while handling a request") {
		t.Errorf("the panic was not logged: %s", ts.logs.String())
	}
	// The server still serves.
	_, err = ts.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:u1"))
	wantCode(t, err, codes.Internal)
}

// A REST body nested deeper than the gateway's bound is refused with 400, not decoded
// and then failed as INTERNAL by the in-process gRPC hop.
func TestDeeplyNestedRESTBody(t *testing.T) {
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	for _, depth := range []int{150, 5000, 9000} {
		ctx := strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
		body := `{"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"alice"},"context":` + ctx + `}`
		code, out := ts.rest(t, "POST", "/v1/permissions/check", readerSecret, body)
		wantHTTPError(t, code, out, http.StatusBadRequest, codes.InvalidArgument, "recursion")
	}
}

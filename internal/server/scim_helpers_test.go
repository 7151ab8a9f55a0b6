package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/bolt"
	"github.com/pemba-authz/pemba/internal/datastore/postgres"
	"github.com/pemba-authz/pemba/internal/testenv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// scimStores are the durable stores the SCIM sequences run on; PostgreSQL runs when
// PEMBA_TEST_POSTGRES_URI is set (each test in a fresh database).
var scimStores = map[string]func(t *testing.T) datastore.Datastore{
	"bolt": func(t *testing.T) datastore.Datastore {
		ds, err := bolt.Open(t.TempDir(), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	},
	"postgres": func(t *testing.T) datastore.Datastore {
		uri := testenv.FreshPostgresDatabase(t)
		ctx := context.Background()
		if err := postgres.Migrate(ctx, uri, io.Discard); err != nil {
			t.Fatal(err)
		}
		ds, err := postgres.New(ctx, uri, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	},
}

// scimServer is a real server on a store with the reference schema and a small
// B2B tree: eve administers acme-eu (and is its billing manager), root administers acme.
func scimServer(t testing.TB, ds datastore.Datastore) *testServer {
	t.Helper()
	ts := startServerOn(t, ds, true, nil)
	text, err := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.schemas().WriteSchema(as(adminSecret), &pb.WriteSchemaRequest{Schema: string(text)}); err != nil {
		t.Fatal(err)
	}
	ts.touch(t, "",
		"organization:acme-eu#parent@organization:acme",
		"organization:acme-us#parent@organization:acme",
		"organization:acme#admin@user:root",
		"organization:acme-eu#admin@user:eve",
		"organization:acme-eu#app_manager@user:eve",
		"organization:acme-us#admin@user:uma",
		"project:eu-plan#owner@organization:acme-eu",
	)
	return ts
}

// scimConnection creates a connection through the delegate key acting as actor.
func scimConnection(t testing.TB, ts *testServer, name, org, actor string, roles map[string]string) *pb.CreateScimConnectionResponse {
	t.Helper()
	sub, err := tuple.ParseSubject(actor)
	if err != nil {
		t.Fatal(err)
	}
	req := &pb.CreateScimConnectionRequest{Name: name, Organization: &pb.ObjectReference{Type: "organization", Id: org},
		Actor: &pb.SubjectReference{Type: sub.Type, Id: sub.ID}}
	for g, r := range roles {
		req.RoleMappings = append(req.RoleMappings, &pb.ScimRoleMapping{Group: g, Relation: r})
	}
	res, err := pb.NewScimConnectionServiceClient(ts.conn).CreateScimConnection(as(delegateSecret), req)
	if err != nil {
		t.Fatalf("CreateScimConnection: %v", err)
	}
	return res
}

// scimClient sends SCIM requests with a connection's token.
type scimClient struct {
	t     testing.TB
	ts    *testServer
	base  string
	token string
}

type scimReply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (c *scimClient) do(method, path, body string, headers ...string) scimReply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := scimReply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			c.t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

// want sends a request and fails unless it answers status.
func (c *scimClient) want(status int, method, path, body string, headers ...string) scimReply {
	c.t.Helper()
	r := c.do(method, path, body, headers...)
	if r.Status != status {
		c.t.Fatalf("%s %s = %d, want %d\n%s", method, path, r.Status, status, r.Raw)
	}
	return r
}

// wantError sends a request and fails unless it is a SCIM error of status and scimType.
func (c *scimClient) wantError(status int, scimType, method, path, body string, headers ...string) scimReply {
	c.t.Helper()
	r := c.want(status, method, path, body, headers...)
	schemas, _ := r.Body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || r.Body["status"] == nil {
		c.t.Fatalf("%s %s: not a SCIM error: %s", method, path, r.Raw)
	}
	if got, _ := r.Body["scimType"].(string); got != scimType {
		c.t.Fatalf("%s %s: scimType %q, want %q: %s", method, path, got, scimType, r.Raw)
	}
	return r
}

// check asserts a permission answer at the token of a response, exactly.
func check(t testing.TB, ts *testServer, token, resource, permission, subject string, want bool) {
	t.Helper()
	req := checkReq("", resource, permission, subject)
	if token != "" {
		req.Consistency = &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: token}}
	} else {
		req.Consistency = &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}
	}
	resp, err := ts.permissions().Check(as(readerSecret), req)
	if err != nil {
		t.Fatalf("check %s#%s@%s: %v", resource, permission, subject, err)
	}
	got := resp.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_ALLOWED
	if got != want {
		t.Fatalf("check %s#%s@%s = %v, want %v", resource, permission, subject, got, want)
	}
}

// tokenOf is a write response's consistency token; it fails when there is none.
func tokenOf(t testing.TB, r scimReply) string {
	t.Helper()
	tok := r.Header.Get("Pemba-Token")
	if tok == "" {
		t.Fatalf("no Pemba-Token header on %d response %s", r.Status, r.Raw)
	}
	return tok
}

func str(v any) string { s, _ := v.(string); return s }

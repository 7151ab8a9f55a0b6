package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"gopkg.in/yaml.v3"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// The adversarial suite's fixture: the reference B2B schema with the definitions of
// testdata/adversarial/extra.zed, an organisation tree in the default tenant and the
// same organisation ids under other administrators in tenant-a, served by a real
// server with one more key, a delegate limited to tenant-a.

const tenantADelegate = "tenant-a-delegate-0006"

// advKeys maps the key names cases use to their secrets.
var advKeys = map[string]string{
	"admin": adminSecret, "reader": readerSecret, "delegate": delegateSecret,
	"tenant-a-reader": tenantASecret, "tenant-a-admin": tenantAdmin, "tenant-a-delegate": tenantADelegate,
}

// advFile is testdata/adversarial: the fixture (fixture.yaml) and the cases of every
// other file there.
type advFile struct {
	Fixture struct {
		SchemaExtra string            `yaml:"schema_extra"`
		Tenants     map[string]string `yaml:"tenants"` // tenant → relationships, one a line
	} `yaml:"fixture"`
	Cases []advCase `yaml:"cases"`
}

// advCase is one attack: who sends what, and how it must be refused.
type advCase struct {
	Name     string `yaml:"name"`
	Category string `yaml:"category"`
	Why      string `yaml:"why"`
	// Transports defaults to both, grpc and rest.
	Transports []string `yaml:"transports"`
	// Setup lines ("touch REL", "delete REL") an admin writes before the attempt;
	// SetupGenerate adds generated ones.
	Setup         []string     `yaml:"setup"`
	SetupGenerate *advGenerate `yaml:"setup_generate"`
	// Precheck is a read that shows the attack's premise, e.g. that the actor held
	// the right at an old token.
	Precheck   *advPrecheck `yaml:"precheck"`
	advRequest `yaml:",inline"`
	Expect     advExpect `yaml:"expect"`
	// Control is the nearest request that must succeed, so the refusal is known to be
	// about what the case changes and not a broken fixture. It inherits the case's
	// key, method, tenant and actor unless it names its own.
	Control *advRequest `yaml:"control"`
}

// advRequest is one API request: a method (default write), the key that sends it
// (default delegate), and the request in the API's JSON form plus shorthands.
type advRequest struct {
	Method  string         `yaml:"method"`
	Key     string         `yaml:"key"`
	Tenant  string         `yaml:"tenant"`
	Actor   string         `yaml:"actor"`
	Reason  string         `yaml:"reason"`
	Updates []string       `yaml:"updates"` // "create REL", "touch REL", "delete REL"
	Request map[string]any `yaml:"request"`
	// Generate adds generated updates (or contextual relationships) before Updates.
	Generate *advGenerate `yaml:"generate"`
	// Body is a raw REST body, sent as is (REST-only cases).
	Body string `yaml:"body"`
	// Metadata is sent as gRPC metadata, and over REST as Grpc-Metadata-* headers.
	Metadata map[string]string `yaml:"metadata"`
}

// advGenerate makes Count lines from Template, with ${i} and ${next} (i+1).
type advGenerate struct {
	Count    int    `yaml:"count"`
	Template string `yaml:"template"`
	// Field is "updates" (default) or "contextual_relationships".
	Field string `yaml:"field"`
}

type advPrecheck struct {
	Key     string         `yaml:"key"`
	Request map[string]any `yaml:"request"` // a CheckRequest
	Want    string         `yaml:"want"`    // a Permissionship name
}

// advExpect is how the attempt must end.
type advExpect struct {
	Code    string   `yaml:"code"`
	Message []string `yaml:"message"`
	// HTTPStatus overrides the status the code maps to (413 for an oversized body).
	HTTPStatus int `yaml:"http_status"`
	// WhyCode says why a case that is not PERMISSION_DENIED gets its code.
	WhyCode string `yaml:"why_code"`
	// Record is where the refused attempt is recorded: "audit" (the tenant's audit
	// trail, as a denial with the actor and the attempted updates), "log" (the
	// server's request log, with the key's name, method and code) or "none".
	Record    string `yaml:"record"`
	WhyRecord string `yaml:"why_record"`
	// Attempted lists the updates a denial record must carry when they are not the
	// request's (a delete by filter or an offboarding records what it would remove).
	Attempted []string `yaml:"attempted"`
}

func loadAdversarial(t *testing.T) advFile {
	t.Helper()
	paths, err := filepath.Glob("testdata/adversarial/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/adversarial/*.yaml: %v", err)
	}
	var all advFile
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f advFile
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if filepath.Base(path) == "fixture.yaml" {
			all.Fixture = f.Fixture
		}
		all.Cases = append(all.Cases, f.Cases...)
	}
	if all.Fixture.SchemaExtra == "" {
		t.Fatal("testdata/adversarial/fixture.yaml has no fixture")
	}
	return all
}

// advServer starts a server with the fixture loaded; expand fills placeholders.
func advServer(t *testing.T, f advFile, expand func(string) string) *testServer {
	t.Helper()
	ts := startServer(t, func(c *server.Config) {
		c.Keys = append(c.Keys, server.NewKey("tenant-a-delegate", server.RoleDelegate, []string{"tenant-a"}, tenantADelegate))
	})
	ref, err := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	if err != nil {
		t.Fatal(err)
	}
	extra, err := os.ReadFile("testdata/adversarial/" + f.Fixture.SchemaExtra)
	if err != nil {
		t.Fatal(err)
	}
	text := string(ref) + "\n" + string(extra)
	tenants := slices.Sorted(func(yield func(string) bool) {
		for name := range f.Fixture.Tenants {
			if !yield(name) {
				return
			}
		}
	})
	for _, tenant := range tenants {
		if tenant != tuple.DefaultTenant {
			if _, err := ts.tenants().CreateTenant(as(adminSecret), &pb.CreateTenantRequest{Tenant: tenant}); err != nil {
				t.Fatalf("CreateTenant(%s): %v", tenant, err)
			}
		}
		if _, err := ts.schemas().WriteSchema(as(adminSecret), &pb.WriteSchemaRequest{Tenant: tenant, Schema: text}); err != nil {
			t.Fatalf("WriteSchema(%s): %v", tenant, err)
		}
		var rels []string
		for line := range strings.Lines(f.Fixture.Tenants[tenant]) {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "//") {
				rels = append(rels, expand(line))
			}
		}
		ts.touch(t, tenant, rels...)
	}
	return ts
}

// placeholders expands ${+30d}-style times (now plus or minus days or hours, in
// RFC 3339), ${repeat:TEXT:N} and ${token...} revision tokens in a case's strings.
type placeholders struct {
	now    time.Time
	tokens map[string]string
}

var placeholderRE = regexp.MustCompile(`\$\{([^}]*)\}`)

func (p placeholders) expand(t *testing.T, s string) string {
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		body := m[2 : len(m)-1]
		switch {
		case strings.HasPrefix(body, "+") || strings.HasPrefix(body, "-"):
			n, err := strconv.Atoi(body[1 : len(body)-1])
			unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour}[body[len(body)-1]]
			if err != nil || unit == 0 {
				t.Fatalf("placeholder %s: want ${+Nd} or ${-Nh}", m)
			}
			d := time.Duration(n) * unit
			if body[0] == '-' {
				d = -d
			}
			return p.now.Add(d).UTC().Format(time.RFC3339)
		case strings.HasPrefix(body, "repeat:"):
			spec := strings.TrimPrefix(body, "repeat:")
			i := strings.LastIndexByte(spec, ':')
			if i < 0 {
				t.Fatalf("placeholder %s: want ${repeat:TEXT:N}", m)
			}
			text := spec[:i]
			n, err := strconv.Atoi(spec[i+1:])
			if err != nil {
				t.Fatalf("placeholder %s: %v", m, err)
			}
			return strings.Repeat(text, n)
		case strings.HasPrefix(body, "token"):
			tok, ok := p.tokens[body]
			if !ok {
				t.Fatalf("placeholder %s: unknown token", m)
			}
			return tok
		}
		t.Fatalf("unknown placeholder %s", m)
		return ""
	})
}

// generated expands a generator into lines.
func (g *advGenerate) lines() []string {
	if g == nil {
		return nil
	}
	out := make([]string, g.Count)
	for i := range g.Count {
		out[i] = strings.NewReplacer("${i}", strconv.Itoa(i), "${next}", strconv.Itoa(i+1)).Replace(g.Template)
	}
	return out
}

// advCode reads a code name such as PERMISSION_DENIED.
func advCode(t *testing.T, name string) codes.Code {
	t.Helper()
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if protoconv.CodeName(c) == name {
			return c
		}
	}
	t.Fatalf("unknown status code %q", name)
	return 0
}

// tokensFor computes the ${token...} placeholders: the head of each tenant, one
// edited, one of another store and one of a revision not yet written.
func (ts *testServer) tokensFor(t *testing.T, into map[string]string, suffix string) {
	t.Helper()
	ctx := context.Background()
	for _, tenant := range []string{tuple.DefaultTenant, "tenant-a"} {
		head, err := ts.ds.HeadRevision(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		name := "token" + suffix
		if tenant != tuple.DefaultTenant {
			name += ":" + tenant
		}
		into[name] = datastore.EncodeToken(ts.ds.UniqueID(), tenant, head)
		if tenant == tuple.DefaultTenant {
			tok := []byte(into[name])
			i := len(tok) / 2
			tok[i] = map[bool]byte{true: 'B', false: 'A'}[tok[i] == 'A']
			into["token:altered"+suffix] = string(tok)
			into["token:foreign-store"+suffix] = datastore.EncodeToken("another-pemba-store", tenant, head)
			into["token:future"+suffix] = datastore.EncodeToken(ts.ds.UniqueID(), tenant, head+1000)
		}
	}
}

// relationshipsOf exports every relationship of every fixture tenant, as text.
func (ts *testServer) relationshipsOf(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tenant := range []string{tuple.DefaultTenant, "tenant-a"} {
		stream, err := ts.relationships().ExportRelationships(as(adminSecret), &pb.ExportRelationshipsRequest{
			Tenant: tenant, Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for {
			batch, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("export %s: %v", tenant, err)
			}
			for _, r := range batch.GetRelationships() {
				rel, err := protoconv.RelationshipFromProto("r", r)
				if err != nil {
					t.Fatal(err)
				}
				out[tenant] = append(out[tenant], tuple.Format(rel))
			}
		}
		slices.Sort(out[tenant])
	}
	return out
}

// heads returns each fixture tenant's head revision.
func (ts *testServer) heads(t *testing.T) map[string]datastore.Revision {
	t.Helper()
	out := map[string]datastore.Revision{}
	for _, tenant := range []string{tuple.DefaultTenant, "tenant-a"} {
		rev, err := ts.ds.HeadRevision(context.Background(), tenant)
		if err != nil {
			t.Fatal(err)
		}
		out[tenant] = rev
	}
	return out
}

func (c advCase) transports() []string {
	if len(c.Transports) == 0 {
		return []string{"grpc", "rest"}
	}
	return c.Transports
}

func (c advCase) String() string { return fmt.Sprintf("%s (%s)", c.Name, c.Category) }

package openfga_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/openfga"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/serve"
	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// storeFile is the part of OpenFGA's store file format (.fga.yaml) the corpus uses:
// a model, tuples, and tests of checks and object lists with their expected answers.
type storeFile struct {
	Name   string          `yaml:"name"`
	Model  string          `yaml:"model"`
	Tuples []openfga.Tuple `yaml:"tuples"`
	Tests  []struct {
		Name  string `yaml:"name"`
		Check []struct {
			User       string          `yaml:"user"`
			Object     string          `yaml:"object"`
			Context    map[string]any  `yaml:"context"`
			Assertions map[string]bool `yaml:"assertions"`
		} `yaml:"check"`
		ListObjects []struct {
			User       string              `yaml:"user"`
			Type       string              `yaml:"type"`
			Assertions map[string][]string `yaml:"assertions"`
		} `yaml:"list_objects"`
	} `yaml:"tests"`
}

const adminKey = "openfga-corpus-admin-0001"

// startServer runs a real server on a memory store and returns a connection to it.
func startServer(t *testing.T) *grpc.ClientConn {
	t.Helper()
	st, err := serve.NewStack(memory.New(datastore.Options{}), serve.StackOptions{Server: server.Config{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Keys:   []server.Key{server.NewKey("admin", server.RoleAdmin, nil, adminKey)},
		Logger: slog.New(slog.DiscardHandler),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Server.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(st.Server.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.Server.Shutdown(ctx)
		st.Close()
	})
	return conn
}

func admin() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminKey)
}

// TestStoreFiles translates each corpus model and its tuples, loads them into a real
// server, and asserts every check and object list the store file expects.
func TestStoreFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.fga.yaml")
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	conn := startServer(t)
	tenants := pb.NewTenantServiceClient(conn)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var sf storeFile
			if err := yaml.Unmarshal(raw, &sf); err != nil {
				t.Fatal(err)
			}
			m, err := openfga.ParseDSL(sf.Model)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := openfga.Translate(m)
			if err != nil {
				t.Fatal(err)
			}
			tenant := sf.Name
			if _, err := tenants.CreateTenant(admin(), &pb.CreateTenantRequest{Tenant: tenant}); err != nil {
				t.Fatal(err)
			}
			if _, err := pb.NewSchemaServiceClient(conn).WriteSchema(admin(), &pb.WriteSchemaRequest{Tenant: tenant, Schema: tr.Schema}); err != nil {
				t.Fatalf("WriteSchema: %v\n%s", err, tr.Schema)
			}
			write := &pb.WriteRelationshipsRequest{Tenant: tenant}
			for _, tu := range sf.Tuples {
				r, err := tr.Relationship(tu)
				if err != nil {
					t.Fatalf("tuple %+v: %v", tu, err)
				}
				write.Updates = append(write.Updates, &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: protoconv.RelationshipToProto(r)})
			}
			if _, err := pb.NewRelationshipServiceClient(conn).WriteRelationships(admin(), write); err != nil {
				t.Fatalf("WriteRelationships: %v", err)
			}
			perms := pb.NewPermissionServiceClient(conn)
			full := protoconv.FullyConsistent()
			n := 0
			for _, test := range sf.Tests {
				for _, c := range test.Check {
					obj := mustRef(t, c.Object)
					subj := mustSubject(t, c.User)
					var cctx *structpb.Struct
					if c.Context != nil {
						if cctx, err = structpb.NewStruct(c.Context); err != nil {
							t.Fatal(err)
						}
					}
					for rel, want := range c.Assertions {
						resp, err := perms.Check(admin(), &pb.CheckRequest{Tenant: tenant, Consistency: full, Resource: obj, Permission: rel, Subject: subj, Context: cctx})
						if err != nil {
							t.Fatalf("%s: check %s#%s@%s: %v", test.Name, c.Object, rel, c.User, err)
						}
						got := resp.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_ALLOWED
						if got != want {
							t.Errorf("%s: %s#%s@%s (context %v) = %v, the store file expects %v", test.Name, c.Object, rel, c.User, c.Context, got, want)
						}
						n++
					}
				}
				for _, lo := range test.ListObjects {
					subj := mustSubject(t, lo.User)
					for rel, want := range lo.Assertions {
						stream, err := perms.LookupResources(admin(), &pb.LookupResourcesRequest{Tenant: tenant, Consistency: full, ResourceType: lo.Type, Permission: rel, Subject: subj})
						if err != nil {
							t.Fatal(err)
						}
						got := []string{}
						for {
							m, err := stream.Recv()
							if err == io.EOF {
								break
							}
							if err != nil {
								t.Fatal(err)
							}
							if m.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_ALLOWED {
								got = append(got, lo.Type+":"+m.GetResourceId())
							}
						}
						sort.Strings(got)
						w := slices.Clone(want)
						sort.Strings(w)
						if !slices.Equal(got, w) {
							t.Errorf("%s: list %s#%s for %s = %v, the store file expects %v", test.Name, lo.Type, rel, lo.User, got, w)
						}
						n++
					}
				}
			}
			t.Logf("%s: %d assertions", file, n)
		})
	}
}

func mustRef(t *testing.T, s string) *pb.ObjectReference {
	t.Helper()
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		t.Fatalf("object %q", s)
	}
	return &pb.ObjectReference{Type: typ, Id: id}
}

func mustSubject(t *testing.T, s string) *pb.SubjectReference {
	t.Helper()
	obj, rel, _ := strings.Cut(s, "#")
	typ, id, ok := strings.Cut(obj, ":")
	if !ok {
		t.Fatalf("user %q", s)
	}
	return &pb.SubjectReference{Type: typ, Id: id, Relation: rel}
}

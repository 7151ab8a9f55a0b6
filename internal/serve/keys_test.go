package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestParseKeyFlag(t *testing.T) {
	cases := []struct {
		in      string
		name    string
		role    server.Role
		tenants string
		secret  string
		err     string
	}{
		{in: "s3cret", name: "preshared-key-1", role: server.RoleAdmin, secret: "s3cret"},
		{in: "portal:reader:abc", name: "portal", role: server.RoleReader, secret: "abc"},
		{in: "ops:delegate@acme,globex:a:b:c", name: "ops", role: server.RoleDelegate, tenants: "acme,globex", secret: "a:b:c"},
		{in: "x:y", err: "neither SECRET nor"},
		{in: "portal:root:abc", err: `role "root" is not one of`},
		{in: "portal:reader@Bad!:abc", err: "tenant name"},
		{in: "portal:reader:", err: "empty secret"},
		{in: "", err: "empty"},
	}
	for _, c := range cases {
		k, err := parseKeyFlag(c.in, 0)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseKeyFlag(%q) error %v, want %q", c.in, err, c.err)
			}
			if err != nil && c.in != "" && strings.Contains(err.Error(), "abc") {
				t.Errorf("error %q quotes the secret", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseKeyFlag(%q): %v", c.in, err)
			continue
		}
		if k.Name != c.name || k.Role != c.role || strings.Join(k.Tenants, ",") != c.tenants || k.Digest != sha256.Sum256([]byte(c.secret)) {
			t.Errorf("parseKeyFlag(%q) = %+v", c.in, k)
		}
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	sum := sha256.Sum256([]byte("hashed-secret"))
	yamlFile := filepath.Join(dir, "keys.yaml")
	os.WriteFile(yamlFile, []byte(`keys:
  - name: backend
    role: reader
    key: plain-secret
    tenants: [acme]
  - name: ops
    role: admin
    sha256: `+hex.EncodeToString(sum[:])+`
`), 0o600)
	keys, err := loadKeyFile(yamlFile, server.Quota{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Name != "backend" || keys[0].Role != server.RoleReader || keys[0].Tenants[0] != "acme" ||
		keys[0].Digest != sha256.Sum256([]byte("plain-secret")) || keys[1].Digest != sum {
		t.Fatalf("keys = %+v", keys)
	}
	// A server with the loaded keys lets the hashed key's secret in, as an admin.
	if err := callAs(t, keys, "hashed-secret"); err != nil {
		t.Fatalf("authenticate with the hashed key: %v", err)
	}
	if err := callAs(t, keys, "not-a-key"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("an unknown secret: %v, want UNAUTHENTICATED", err)
	}

	jsonFile := filepath.Join(dir, "keys.json")
	os.WriteFile(jsonFile, []byte(`{"keys":[{"name":"ci","role":"delegate","key":"k"}]}`), 0o600)
	if keys, err := loadKeyFile(jsonFile, server.Quota{}); err != nil || keys[0].Role != server.RoleDelegate {
		t.Fatalf("JSON key file: %v %v", keys, err)
	}

	bad := []struct{ body, err string }{
		{`keys: [{name: a, role: admin}]`, "needs key or sha256"},
		{`keys: [{name: a, role: admin, key: x, sha256: ab}]`, "either key or sha256"},
		{`keys: [{name: a, role: admin, sha256: xyz}]`, "64 hex"},
		{`keys: [{name: a, role: boss, key: x}]`, "not one of"},
		{`keys: [{name: a, role: admin, key: x, tenant: [b]}]`, "field tenant not found"},
		{`other: 1`, "field other not found"},
		{`keys: []`, "has no keys"},
	}
	for _, b := range bad {
		f := filepath.Join(dir, "bad.yaml")
		os.WriteFile(f, []byte(b.body), 0o600)
		if _, err := loadKeyFile(f, server.Quota{}); err == nil || !strings.Contains(err.Error(), b.err) {
			t.Errorf("loadKeyFile(%q) error %v, want %q", b.body, err, b.err)
		}
	}
	if err := server.ValidateKeys([]server.Key{server.NewKey("a", server.RoleAdmin, nil, "x"), server.NewKey("b", server.RoleAdmin, nil, "x")}); err == nil {
		t.Error("two keys with one secret were accepted")
	}
	if err := server.ValidateKeys([]server.Key{server.NewKey("a", server.RoleAdmin, nil, "x"), server.NewKey("a", server.RoleAdmin, nil, "y")}); err == nil {
		t.Error("two keys with one name were accepted")
	}
}

// callAs starts a real server with the keys and lists its tenants with the secret, an
// admin-only call.
func callAs(t *testing.T, keys []server.Key, secret string) error {
	t.Helper()
	ds := memory.New(datastore.Options{})
	st, err := NewStack(ds, StackOptions{Server: server.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Keys: keys}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		st.Server.Shutdown(context.Background())
		st.Close()
	}()
	conn, err := grpc.NewClient(st.Server.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+secret)
	_, err = pb.NewTenantServiceClient(conn).ListTenants(ctx, &pb.ListTenantsRequest{})
	return err
}

package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The client tests drive the real binary (pembaBin, built once by TestMain in
// serve_test.go) against a real `pemba serve` on loopback ports (startServe).

// Keys of the client test server.
const (
	cliAdminSecret    = "cli-admin-secret-1"
	cliDelegateSecret = "cli-delegate-secret-2"
	cliReaderSecret   = "cli-reader-secret-3"
)

// startClientServer runs `pemba serve` on the memory store with an admin ("admin"), a
// delegate ("portal") and a reader ("auditor") key. A quantisation window of 1ns makes
// minimize_latency reads see every earlier write, so the tests need not pass tokens
// around (one test does, to show how).
func startClientServer(t *testing.T, extra ...string) *proc {
	t.Helper()
	args := []string{
		"--datastore", "memory", "--quantization-window", "1ns",
		"--preshared-key", "admin:admin:" + cliAdminSecret,
		"--preshared-key", "portal:delegate:" + cliDelegateSecret,
		"--preshared-key", "auditor:reader:" + cliReaderSecret,
	}
	return startServe(t, nil, append(args, extra...)...)
}

// cliRunner runs the binary as a client with a clean environment: no PEMBA_* variable
// of the developer's shell leaks in, only the ones the test sets.
type cliRunner struct {
	t   *testing.T
	env []string
	dir string
}

// newCLI returns a runner that talks to p with the given key (through PEMBA_ENDPOINT
// and PEMBA_TOKEN, so the environment twins are exercised by every test).
func newCLI(t *testing.T, p *proc, token string) *cliRunner {
	c := &cliRunner{t: t, dir: t.TempDir()}
	if p != nil {
		c.env = append(c.env, "PEMBA_ENDPOINT="+p.grpcAddr)
	}
	if token != "" {
		c.env = append(c.env, "PEMBA_TOKEN="+token)
	}
	return c
}

// with returns a copy of the runner with more environment variables.
func (c *cliRunner) with(env ...string) *cliRunner {
	return &cliRunner{t: c.t, env: append(append([]string(nil), c.env...), env...), dir: c.dir}
}

// cliResult is one run of the binary.
type cliResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return "pemba " + strings.Join(r.args, " ") + "\nexit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// run runs pemba with args.
func (c *cliRunner) run(args ...string) cliResult { return c.runStdin("", args...) }

// runStdin runs pemba with args and stdin.
func (c *cliRunner) runStdin(stdin string, args ...string) cliResult {
	c.t.Helper()
	cmd := exec.Command(pembaBin, args...)
	cmd.Dir = c.dir
	cmd.Env = cleanEnv(c.env)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cliResult{args: args, stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		c.t.Fatalf("running pemba %v: %v", args, err)
	}
	return res
}

// ok runs pemba and fails the test unless it exits 0.
func (c *cliRunner) ok(args ...string) cliResult {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("expected exit 0:\n%s", r)
	}
	return r
}

// expect runs pemba and fails the test unless it exits with code.
func (c *cliRunner) expect(code int, args ...string) cliResult {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code {
		c.t.Fatalf("expected exit %d:\n%s", code, r)
	}
	return r
}

// cleanEnv is the process environment without PEMBA_* variables, plus env.
func cleanEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PEMBA_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// mustContain fails unless s contains every want.
func mustContain(t *testing.T, r cliResult, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("missing %q in output:\n%s", w, r)
		}
	}
}

// tokenRE finds the "token: ..." line of text output.
var tokenRE = regexp.MustCompile(`(?m)^token: (\S+)$`)

// tokenOf returns the token a command printed.
func tokenOf(t *testing.T, r cliResult) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no token line:\n%s", r)
	}
	return m[1]
}

// decodeJSON parses a command's JSON document.
func decodeJSON[T any](t *testing.T, r cliResult) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("output is not the expected JSON (%v):\n%s", err, r)
	}
	return v
}

// decodeJSONLines parses a command's JSON lines.
func decodeJSONLines[T any](t *testing.T, r cliResult) []T {
	t.Helper()
	var out []T
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q is not the expected JSON (%v):\n%s", line, err, r)
		}
		out = append(out, v)
	}
	return out
}

// referenceSchema is the B2B reference schema every walkthrough uses (absolute: the
// binary runs in a temporary directory).
var referenceSchema = testdataPath("../../schema/b2b-ciam/schema.zed")

// testdataPath makes a path relative to the package directory absolute.
func testdataPath(rel string) string {
	abs, err := filepath.Abs(rel)
	if err != nil {
		panic(err)
	}
	return abs
}

// TestClientErrors pins the error contract: every error goes to stderr as
// "pemba: CODE: message" (or a message naming the bad input) with exit status 2.
func TestClientErrors(t *testing.T) {
	p := startClientServer(t)
	admin := newCLI(t, p, cliAdminSecret)
	admin.ok("schema", "write", referenceSchema)

	unreachable := newCLI(t, nil, cliAdminSecret).with("PEMBA_ENDPOINT=127.0.0.1:1")
	cases := []struct {
		name  string
		cli   *cliRunner
		args  []string
		wants []string
	}{
		{"wrong token", newCLI(t, p, "not-a-key"), []string{"check", "document:q3", "view", "user:alice"},
			[]string{"pemba: UNAUTHENTICATED: invalid bearer token"}},
		{"missing token", newCLI(t, p, ""), []string{"schema", "read"},
			[]string{"pemba: UNAUTHENTICATED: missing bearer token", "set --token or PEMBA_TOKEN"}},
		{"reader writes", newCLI(t, p, cliReaderSecret), []string{"rel", "write", "document:q3#viewer@user:alice"},
			[]string{"pemba: PERMISSION_DENIED:", `key "auditor" has role reader`}},
		{"delegate without --as", newCLI(t, p, cliDelegateSecret), []string{"rel", "write", "document:q3#viewer@user:alice"},
			[]string{"pemba: PERMISSION_DENIED:", "on behalf of an acting subject"}},
		{"unreachable server", unreachable, []string{"check", "document:q3", "view", "user:alice", "--timeout", "5s"},
			[]string{"pemba: UNAVAILABLE:", "is a Pemba server listening on 127.0.0.1:1?"}},
		{"bad relationship text", admin, []string{"rel", "write", "document:q3#viewer-user:alice"},
			[]string{"argument 1:", "missing @ between resource and subject"}},
		{"bad resource", admin, []string{"check", "document", "view", "user:alice"},
			[]string{"RESOURCE:", `"document": missing : between type and id`}},
		{"unknown permission", admin, []string{"check", "document:q3", "vew", "user:alice"},
			[]string{"pemba: INVALID_ARGUMENT:", "`vew` not found on definition `document`", "did you mean `view`?"}},
		{"unknown relation on write", admin, []string{"rel", "write", "document:q3#owner@user:alice"},
			[]string{"pemba: INVALID_ARGUMENT:", "owner"}},
		{"unknown consistency", admin, []string{"check", "document:q3", "view", "user:alice", "--consistency", "eventually"},
			[]string{`--consistency "eventually" is not one of minimize_latency`}},
		{"consistency without token", admin, []string{"check", "document:q3", "view", "user:alice", "--consistency", "at_least_as_fresh"},
			[]string{"--consistency at_least_as_fresh needs a token"}},
		{"bad token", admin, []string{"check", "document:q3", "view", "user:alice", "--consistency", "at_exact_snapshot:garbage"},
			[]string{"pemba: INVALID_ARGUMENT:"}},
		{"context not JSON", admin, []string{"check", "document:q3", "view", "user:alice", "--context", "client_ip=1"},
			[]string{"--context is not a JSON object"}},
		{"unknown flag", admin, []string{"check", "document:q3", "view", "user:alice", "--explian"},
			[]string{"unknown flag: --explian", "see pemba check --help"}},
		{"missing argument", admin, []string{"check", "document:q3", "view"},
			[]string{"pemba check needs 3 argument(s): RESOURCE PERMISSION SUBJECT (got 2"}},
		{"bad output format", admin, []string{"schema", "read", "-o", "yaml"},
			[]string{`--output "yaml" is not a format: use text or json`}},
		{"bad op", admin, []string{"rel", "write", "--op", "upsert", "document:q3#viewer@user:alice"},
			[]string{`--op "upsert" is not one of create, touch, delete`}},
		{"bad precondition", admin, []string{"rel", "write", "--precondition", "exists:document:q3", "document:q3#viewer@user:alice"},
			[]string{`--precondition "exists:document:q3": expected must-match:FILTER or must-not-match:FILTER`}},
		{"offboard without reason", admin, []string{"offboard", "user:alice"},
			[]string{"--reason is required"}},
		{"missing file", admin, []string{"import", "no-such-file.txt"},
			[]string{"no-such-file.txt: no such file or directory"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cli.t = t
			r := tc.cli.run(tc.args...)
			if r.code != exitError {
				t.Fatalf("expected exit %d:\n%s", exitError, r)
			}
			if r.stdout != "" {
				t.Fatalf("an error printed on stdout:\n%s", r)
			}
			mustContain(t, r, r.stderr, tc.wants...)
		})
	}
}

// TestClientEnvironmentTwins checks that PEMBA_ENDPOINT, PEMBA_TOKEN and PEMBA_TENANT
// configure the client, and that flags win over them.
func TestClientEnvironmentTwins(t *testing.T) {
	p := startClientServer(t)
	admin := newCLI(t, p, cliAdminSecret)
	admin.ok("tenant", "create", "brand-b")
	admin.with("PEMBA_TENANT=brand-b").ok("schema", "write", referenceSchema)

	// The default tenant has no schema; brand-b has one.
	r := admin.expect(exitError, "schema", "read")
	mustContain(t, r, r.stderr, "NOT_FOUND", `tenant "default" has no schema`)
	r = admin.with("PEMBA_TENANT=brand-b").ok("schema", "read")
	mustContain(t, r, r.stdout, "definition organization")
	// --tenant wins over PEMBA_TENANT.
	admin.with("PEMBA_TENANT=brand-b").expect(exitError, "schema", "read", "--tenant", "default")
	// --token wins over PEMBA_TOKEN, --endpoint over PEMBA_ENDPOINT.
	r = admin.expect(exitError, "--tenant", "brand-b", "schema", "read", "--token", "wrong")
	mustContain(t, r, r.stderr, "UNAUTHENTICATED")
	admin.with("PEMBA_ENDPOINT=127.0.0.1:1").ok("schema", "read", "--tenant", "brand-b", "--endpoint", p.grpcAddr)
	// PEMBA_OUTPUT is the twin of -o.
	r = admin.with("PEMBA_TENANT=brand-b", "PEMBA_OUTPUT=json").ok("schema", "read")
	doc := decodeJSON[map[string]string](t, r)
	if !strings.Contains(doc["schema"], "definition organization") || doc["token"] == "" {
		t.Fatalf("schema read JSON lacks schema or token:\n%s", r)
	}
}

// TestClientTLS runs the server with a certificate and checks --ca-file (verified),
// --insecure (unverified) and plain --tls against an unknown authority (refused).
func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	p := startClientServer(t, "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	admin := newCLI(t, p, cliAdminSecret)

	admin.ok("schema", "write", referenceSchema, "--ca-file", certFile)
	admin.ok("schema", "read", "--insecure")
	r := admin.expect(exitError, "schema", "read", "--tls", "--timeout", "5s")
	mustContain(t, r, r.stderr, "UNAVAILABLE", "certificate")
	r = admin.expect(exitError, "schema", "read", "--timeout", "5s")
	mustContain(t, r, r.stderr, "UNAVAILABLE", "add --tls if it serves TLS")
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pemba test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

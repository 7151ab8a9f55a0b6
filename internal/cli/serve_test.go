package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/pemba-authz/pemba/internal/testenv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// pembaBin is the real binary, built once for the tests that run it.
var pembaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pemba-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pembaBin = filepath.Join(dir, "pemba")
	build := exec.Command("go", "build", "-o", pembaBin, "github.com/pemba-authz/pemba/cmd/pemba")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the pemba binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	testenv.ReportSkips("internal/cli")
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running `pemba serve`.
type proc struct {
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	mu       sync.Mutex
	lines    []map[string]any // JSON log lines
	exited   chan error
}

// startServe runs the binary with JSON logs and waits for its "serving" line.
func startServe(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(pembaBin, append([]string{"serve", "--log-format", "json", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	return startServeCmd(t, cmd)
}

// startServeCmd starts a prepared `pemba serve --log-format json` command and waits
// for its "serving" line.
func startServeCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan error, 1)}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var once sync.Once
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				line = map[string]any{"msg": sc.Text()}
			}
			p.mu.Lock()
			p.lines = append(p.lines, line)
			if line["msg"] == "serving" {
				p.grpcAddr, _ = line["grpc"].(string)
				p.httpAddr, _ = line["http"].(string)
				once.Do(func() { close(serving) })
			}
			p.mu.Unlock()
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	select {
	case <-serving:
	case err := <-p.exited:
		t.Fatalf("pemba serve exited before serving (%v):\n%s", err, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("pemba serve did not start:\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		raw, _ := json.Marshal(l)
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.String()
}

func (p *proc) waitFor(t *testing.T, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.log(), msg) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the log never said %q:\n%s", msg, p.log())
}

const binarySchema = `definition user {}
definition document {
	relation viewer: user
	permission view = viewer
}`

// The real binary: keys and addresses from the environment, a schema and a
// relationship written over gRPC, Check answered over gRPC and REST; then SIGTERM with
// an import in flight: the import completes, the process exits 0 and closes its store.
func TestServeBinaryGracefulShutdown(t *testing.T) {
	p := startServe(t, []string{"PEMBA_PRESHARED_KEY=ops:admin:bin-secret", "PEMBA_DATASTORE=memory", "PEMBA_SHUTDOWN_GRACE=20s"})
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer bin-secret")

	if _, err := pb.NewSchemaServiceClient(conn).WriteSchema(ctx, &pb.WriteSchemaRequest{Schema: binarySchema}); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	rel := func(doc, user string) *pb.Relationship {
		return &pb.Relationship{Resource: &pb.ObjectReference{Type: "document", Id: doc}, Relation: "viewer", Subject: &pb.SubjectReference{Type: "user", Id: user}}
	}
	wr, err := pb.NewRelationshipServiceClient(conn).WriteRelationships(ctx, &pb.WriteRelationshipsRequest{Updates: []*pb.RelationshipUpdate{
		{Operation: pb.RelationshipUpdate_OPERATION_CREATE, Relationship: rel("q3", "alice")},
	}})
	if err != nil {
		t.Fatalf("WriteRelationships: %v", err)
	}
	fresh := &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: wr.GetToken()}}
	for user, want := range map[string]pb.Permissionship{"alice": pb.Permissionship_PERMISSIONSHIP_ALLOWED, "bob": pb.Permissionship_PERMISSIONSHIP_DENIED} {
		resp, err := pb.NewPermissionServiceClient(conn).Check(ctx, &pb.CheckRequest{
			Consistency: fresh, Resource: &pb.ObjectReference{Type: "document", Id: "q3"}, Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: user},
		})
		if err != nil || resp.GetPermissionship() != want {
			t.Errorf("gRPC check %s: %v %v, want %v", user, resp.GetPermissionship(), err, want)
		}
		body := fmt.Sprintf(`{"consistency":{"at_least_as_fresh":%q},"resource":{"type":"document","id":"q3"},"permission":"view","subject":{"type":"user","id":%q}}`, wr.GetToken(), user)
		req, _ := http.NewRequest("POST", "http://"+p.httpAddr+"/v1/permissions/check", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer bin-secret")
		hresp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(hresp.Body).Decode(&out)
		hresp.Body.Close()
		if hresp.StatusCode != 200 || out["permissionship"] != want.String() {
			t.Errorf("REST check %s: %d %v, want %v", user, hresp.StatusCode, out, want)
		}
	}

	// An import is in flight when SIGTERM arrives.
	imp, err := pb.NewRelationshipServiceClient(conn).ImportRelationships(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := imp.Send(&pb.ImportRelationshipsRequest{Relationships: []*pb.Relationship{rel("i1", "ivan")}}); err != nil {
		t.Fatal(err)
	}
	// Make sure the server has the stream before the signal.
	time.Sleep(100 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "signal received")
	if err := imp.Send(&pb.ImportRelationshipsRequest{Relationships: []*pb.Relationship{rel("i2", "ivan"), rel("i3", "ivan")}}); err != nil {
		t.Fatalf("sending to the in-flight import after SIGTERM: %v", err)
	}
	res, err := imp.CloseAndRecv()
	if err != nil {
		t.Fatalf("the in-flight import failed: %v\n%s", err, p.log())
	}
	if res.GetCount() != 3 {
		t.Errorf("import count %d, want 3", res.GetCount())
	}

	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("pemba serve exited with %v:\n%s", err, p.log())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("pemba serve did not exit after SIGTERM:\n%s", p.log())
	}
	for _, want := range []string{"datastore closed", `"msg":"stopped"`} {
		if !strings.Contains(p.log(), want) {
			t.Errorf("the log lacks %q:\n%s", want, p.log())
		}
	}
	if strings.Contains(p.log(), "bin-secret") {
		t.Error("the log contains the key")
	}
}

func TestServeRefusesOpenNetworkAddress(t *testing.T) {
	cmd := exec.Command(pembaBin, "serve", "--datastore", "memory", "--grpc-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1:\n%s", err, out)
	}
	if !strings.Contains(string(out), "refusing to listen on 0.0.0.0:0 without authentication") || !strings.Contains(string(out), "--insecure-no-auth") {
		t.Errorf("unclear refusal:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(cmd.Dir, "pemba-data")); err == nil {
		t.Error("the refused server created a datastore")
	}
}

func TestServeFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--datastore", "mongo"}, `--datastore "mongo" is not one of`},
		{[]string{"--datastore", "postgres"}, "needs --datastore-uri"},
		{[]string{"--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"--preshared-key", "a:boss:x"}, `role "boss" is not one of`},
		{[]string{"--pprof-addr", "0.0.0.0:6060"}, "not a loopback address"},
		{[]string{"--tls-cert-file", "/nonexistent.pem"}, "--tls-key-file"},
		{[]string{"--memory-limit", "lots"}, `"lots" is not a size`},
		{[]string{"--memory-limit", "1.5"}, "not a whole, non-negative number of bytes"},
		{[]string{"--memory-limit", "1Gi", "--memory-limit-ratio", "1.5"}, "--memory-limit-ratio 1.5 is not in (0, 1]"},
	}
	cases = append(cases, quotaErrorCases(t)...)
	for _, c := range cases {
		cmd := exec.Command(pembaBin, append([]string{"serve", "--datastore", "memory", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, c.args...)...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("serve %v: %v\n%s\nwant %q", c.args, err, out, c.want)
		}
	}
}

func TestMigrate(t *testing.T) {
	uri := testenv.FreshPostgresDatabase(t)
	out, err := exec.Command(pembaBin, "migrate", "--datastore-uri", uri).CombinedOutput()
	if err != nil {
		t.Fatalf("pemba migrate: %v\n%s", err, out)
	}
	// Idempotent.
	cmd := exec.Command(pembaBin, "migrate")
	cmd.Env = append(os.Environ(), "PEMBA_DATASTORE_URI="+uri)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pemba migrate again: %v\n%s", err, out)
	}
	out, err = exec.Command(pembaBin, "migrate").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--datastore-uri") {
		t.Errorf("migrate without a URI: %v %s", err, out)
	}

	// The server runs on the migrated database.
	p := startServe(t, []string{"PEMBA_DATASTORE=postgres", "PEMBA_DATASTORE_URI=" + uri})
	resp, err := http.Get("http://" + p.httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz on postgres: %d %s", resp.StatusCode, body)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := <-p.exited; err != nil {
		t.Errorf("exit after SIGINT: %v\n%s", err, p.log())
	}
}

// With no datastore flag the server keeps its data under ./pemba-data, and a restart
// finds it again.
func TestServeDefaultEmbeddedStore(t *testing.T) {
	dir := t.TempDir()
	run := func() *proc {
		t.Helper()
		cmd := exec.Command(pembaBin, "serve", "--log-format", "json", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
		cmd.Dir = dir
		return startServeCmd(t, cmd)
	}
	stop := func(p *proc) {
		t.Helper()
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-p.exited; err != nil {
			t.Fatalf("exit: %v\n%s", err, p.log())
		}
		if !strings.Contains(p.log(), "datastore closed") {
			t.Errorf("the store was not closed:\n%s", p.log())
		}
	}

	p := run()
	if !strings.Contains(p.log(), "RUNNING WITHOUT AUTHENTICATION") {
		t.Errorf("the open server did not warn:\n%s", p.log())
	}
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := pb.NewSchemaServiceClient(conn).WriteSchema(ctx, &pb.WriteSchemaRequest{Schema: binarySchema}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	stop(p)
	if _, err := os.Stat(filepath.Join(dir, "pemba-data")); err != nil {
		t.Fatalf("no ./pemba-data after a run: %v", err)
	}

	p = run()
	conn, err = grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got, err := pb.NewSchemaServiceClient(conn).ReadSchema(ctx, &pb.ReadSchemaRequest{Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}})
	if err != nil || got.GetSchema() != binarySchema {
		t.Errorf("after a restart the schema is %q (%v)", got.GetSchema(), err)
	}
	stop(p)
}

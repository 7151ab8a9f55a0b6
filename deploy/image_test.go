package deploy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// containerTool runs podman, with the settings this kind of host needs: runc as the
// runtime when it is installed, and a containers.conf without default ulimits
// (CONTAINERS_CONF, unless the caller set one).
type containerTool struct {
	bin  string
	args []string
	env  []string
}

// podman returns the container tool. Without podman the test fails in CI
// (PEMBA_TEST_CONTAINERS=1, which .ci/run sets after installing it) and skips
// elsewhere, saying how to run it.
func podman(t *testing.T) *containerTool {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("PEMBA_TEST_CONTAINERS") == "1" {
			t.Fatal("PEMBA_TEST_CONTAINERS=1 but podman is not installed (apt-get install -y podman runc)")
		}
		t.Skip("podman is not installed: apt-get install -y podman runc, then run with PEMBA_TEST_CONTAINERS=1 to build and run the image")
	}
	c := &containerTool{bin: bin, env: os.Environ()}
	if _, err := exec.LookPath("runc"); err == nil {
		c.args = append(c.args, "--runtime", "runc")
	}
	if os.Getenv("CONTAINERS_CONF") == "" {
		conf := filepath.Join(t.TempDir(), "containers.conf")
		if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c.env = append(c.env, "CONTAINERS_CONF="+conf)
	}
	return c
}

// run runs the tool and returns its combined output.
func (c *containerTool) run(args ...string) (string, error) {
	cmd := exec.Command(c.bin, append(append([]string(nil), c.args...), args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// buildImage builds deploy/Dockerfile offline from a context holding the static
// binary, the host's CA roots and the empty data directory, as deploy/build-image
// does; the image is removed when the test ends.
func buildImage(t *testing.T, c *containerTool) string {
	t.Helper()
	ctxDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(ctxDir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, binary(t), filepath.Join(ctxDir, "pemba"), 0o755)
	copyFile(t, "/etc/ssl/certs/ca-certificates.crt", filepath.Join(ctxDir, "ca-certificates.crt"), 0o644)
	tag := "localhost/pemba-test-" + randomHex(t) + ":latest"
	if _, err := c.run("build", "-f", "Dockerfile", "-t", tag, ctxDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.run("rmi", "-f", tag); err != nil {
			t.Errorf("removing the image: %v", err)
		}
	})
	return tag
}

// The image builds offline from deploy/Dockerfile; its default command refuses to
// serve the network without a key, saying so; given a database URI and a key
// file it serves on the host's PostgreSQL, and the real CLI gets Check answers
// through it.
func TestImageServesCheck(t *testing.T) {
	t.Parallel()
	c := podman(t)
	uri := freshDatabase(t)
	image := buildImage(t, c)

	out, err := c.run("run", "--rm", "--network", "host", image)
	if err == nil || !strings.Contains(out, "refusing to listen on 0.0.0.0:50051 without authentication") {
		t.Errorf("the default command without a key: %v\n%s\nwant a refusal naming the missing key", err, out)
	}

	keyDir := t.TempDir()
	keyFile := filepath.Join(keyDir, "keys.yaml")
	if err := os.WriteFile(keyFile, []byte("keys:\n  - name: admin\n    role: admin\n    key: \""+testKey+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	name := "pemba-test-" + randomHex(t)
	// Confined as the Kubernetes manifests confine it: read-only root filesystem, no
	// capabilities, no privilege escalation.
	if _, err := c.run("run", "-d", "--name", name, "--network", "host",
		"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"-v", keyDir+":/etc/pemba/keys:ro",
		"-e", "PEMBA_DATASTORE=postgres", "-e", "PEMBA_DATASTORE_URI="+uri,
		"-e", "PEMBA_PRESHARED_KEY_FILE=/etc/pemba/keys/keys.yaml",
		image, "serve", "--grpc-addr", grpcAddr, "--http-addr", httpAddr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.run("rm", "-f", name); err != nil {
			t.Errorf("removing the container: %v", err)
		}
	})
	if err := waitReady(context.Background(), "http://"+httpAddr+"/readyz", 30*time.Second); err != nil {
		logs, _ := c.run("logs", name)
		t.Fatalf("the container did not become ready: %v\n%s", err, logs)
	}

	cli := func(wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), "PEMBA_ENDPOINT="+grpcAddr, "PEMBA_TOKEN="+testKey)
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode {
			t.Fatalf("pemba %s: exit %d, want %d\n%s", strings.Join(args, " "), code, wantCode, out)
		}
		return string(out)
	}
	schema := filepath.Join(t.TempDir(), "schema.zed")
	if err := os.WriteFile(schema, []byte("definition user {}\ndefinition document {\n\trelation viewer: user\n\tpermission view = viewer\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli(0, "schema", "write", schema)
	cli(0, "rel", "write", "document:q3#viewer@user:alice")
	if out := cli(0, "check", "document:q3", "view", "user:alice", "--consistency", "fully_consistent"); !strings.HasPrefix(out, "allowed") {
		t.Errorf("check alice: %q, want allowed", out)
	}
	if out := cli(1, "check", "document:q3", "view", "user:bob", "--consistency", "fully_consistent"); !strings.HasPrefix(out, "denied") {
		t.Errorf("check bob: %q, want denied", out)
	}
}

// waitReady polls url until it answers 200 or within passes.
func waitReady(ctx context.Context, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	last := errors.New("no answer yet")
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%d %s", resp.StatusCode, body)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

func randomHex(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, mode); err != nil {
		t.Fatal(err)
	}
}

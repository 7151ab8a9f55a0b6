package deploy_test

import (
	"github.com/pemba-authz/pemba/internal/testenv"

	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pembaBin is the real binary, built static (CGO_ENABLED=0) once for the tests that
// run it or put it in the image.
var (
	pembaBin   string
	buildOnce  sync.Once
	buildError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pemba-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pembaBin = filepath.Join(dir, "pemba")
	code := m.Run()
	testenv.ReportSkips("deploy")
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds the static binary on first use.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-trimpath", "-o", pembaBin, "github.com/pemba-authz/pemba/cmd/pemba")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildError = fmt.Errorf("building the pemba binary: %v\n%s", err, out)
		}
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return pembaBin
}

// freshDatabase creates a database of the test's own on the shared server, migrated
// by the real binary, and dropped when the test ends. It returns its URI.
func freshDatabase(t *testing.T) string {
	t.Helper()
	uri := testenv.FreshPostgresDatabase(t)
	if out, err := exec.Command(binary(t), "migrate", "--datastore-uri", uri).CombinedOutput(); err != nil {
		t.Fatalf("pemba migrate: %v\n%s", err, out)
	}
	return uri
}

// withHost returns uri with its host:port replaced.
func withHost(t *testing.T, uri, hostport string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

// hostOf returns the host:port of uri.
func hostOf(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// proxy is a TCP proxy in front of PostgreSQL that the test can cut (its port then
// refuses connections and every open connection is dropped) and restore.
type proxy struct {
	t        *testing.T
	addr     string // stays the same across cuts
	upstream string

	mu    sync.Mutex
	lis   net.Listener // nil while cut
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// newProxy reserves a loopback port for a proxy to upstream, cut until restore.
func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, addr: lis.Addr().String(), upstream: upstream, conns: map[net.Conn]struct{}{}}
	lis.Close()
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

// restore listens again and forwards new connections.
func (p *proxy) restore() {
	p.t.Helper()
	var lis net.Listener
	var err error
	for range 50 { // the port was just ours; the kernel may take a moment to free it
		if lis, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listening again on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

func (p *proxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.lis == nil { // cut while dialling
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut stops listening and drops every open connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// serveProc is a running `pemba serve` of the real binary.
type serveProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   []string
	http   string // host:port of the HTTP listener
	grpc   string
	exited chan struct{}
	err    error
}

// startServe runs `pemba serve` with JSON logs on free loopback ports and waits for
// its "serving" line.
func startServe(t *testing.T, env []string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--log-format", "json", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, exited: make(chan struct{})}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var once sync.Once
		for sc.Scan() {
			var line map[string]any
			_ = json.Unmarshal(sc.Bytes(), &line)
			p.mu.Lock()
			p.logs = append(p.logs, sc.Text())
			if line["msg"] == "serving" {
				p.grpc, _ = line["grpc"].(string)
				p.http, _ = line["http"].(string)
				once.Do(func() { close(serving) })
			}
			p.mu.Unlock()
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case <-serving:
	case <-p.exited:
		t.Fatalf("pemba serve exited before serving (%v):\n%s", p.err, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("pemba serve did not start:\n%s", p.log())
	}
	return p
}

func (p *serveProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// running fails the test when the process has exited.
func (p *serveProc) running(t *testing.T, when string) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("%s: pemba serve exited (%v):\n%s", when, p.err, p.log())
	default:
	}
}

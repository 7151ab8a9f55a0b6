package cli

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// The real binary: --console serves the console (here for operators only, the
// server having a key), its absence serves no /console route, and bad console
// flags are refused before serving.
func TestServeConsoleFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--console-issuer", "https://login.example.com"}, "add --console"},
		{[]string{"--console", "--console-issuer", "https://login.example.com", "--console-client-id", "c", "--console-redirect-url", "https://pdp.example.com/cb"}, "must have the path /console/callback"},
		{[]string{"--console", "--console-issuer", "http://login.example.com", "--console-client-id", "c", "--console-redirect-url", "https://pdp.example.com/console/callback"}, "must be an https URL"},
	} {
		cmd := exec.Command(pembaBin, append([]string{"serve", "--datastore", "memory", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, c.args...)...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("serve %v: %v\n%s\nwant %q", c.args, err, out, c.want)
		}
	}

	fetch := func(p *proc, path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + p.httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	on := startServe(t, []string{"PEMBA_PRESHARED_KEY=ops:admin:console-cli-test-key", "PEMBA_CONSOLE=true"}, "--datastore", "memory")
	if code, body := fetch(on, "/console/login"); code != http.StatusOK || !strings.Contains(body, "Platform operators") || strings.Contains(body, "single sign-on") {
		t.Errorf("--console (operators only): %d\n%s", code, body)
	}
	off := startServe(t, nil, "--datastore", "memory")
	if code, _ := fetch(off, "/console/login"); code != http.StatusNotFound {
		t.Errorf("without --console /console/login answers %d", code)
	}
}

package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The binary says what it is: --version and `version` agree, the server logs it at
// start and exports it as a metric.
func TestVersion(t *testing.T) {
	short, _, code := runPemba(t, "--version")
	if code != 0 || !regexp.MustCompile(`^pemba \S+ \(commit \S+, go\d`).MatchString(short) {
		t.Fatalf("--version: exit %d, %q", code, short)
	}
	long, _, code := runPemba(t, "version")
	if code != 0 || long != short {
		t.Errorf("version = %q (exit %d), --version = %q", long, code, short)
	}
	out, _, code := runPemba(t, "version", "-o", "json")
	var v struct{ Version, Commit, GoVersion string }
	if err := json.Unmarshal([]byte(strings.ReplaceAll(out, "go_version", "GoVersion")), &v); err != nil || code != 0 || v.Version == "" || v.Commit == "" || !strings.HasPrefix(v.GoVersion, "go") {
		t.Fatalf("version -o json: exit %d, %q (%v)", code, out, err)
	}

	p := startServe(t, nil)
	logged := false
	p.mu.Lock()
	for _, l := range p.lines {
		if l["msg"] == "starting pemba" && l["version"] == v.Version && l["commit"] == v.Commit && l["go"] == v.GoVersion {
			logged = true
		}
	}
	p.mu.Unlock()
	if !logged {
		t.Errorf("the server did not log its version at start:\n%s", p.log())
	}
	resp, err := http.Get("http://" + p.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `pemba_build_info{commit="` + v.Commit + `",go_version="` + v.GoVersion + `",version="` + v.Version + `"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

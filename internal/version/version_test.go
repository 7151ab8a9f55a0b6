package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	i := Get()
	if i.Version == "" || i.Commit == "" || i.GoVersion != runtime.Version() {
		t.Fatalf("Get() = %+v", i)
	}
	s := Info{Version: "v1.2.3", Commit: "0123456789abcdef0123-dirty", GoVersion: "go1.26.8"}.String()
	if s != "pemba v1.2.3 (commit 0123456789ab-dirty, go1.26.8)" {
		t.Errorf("String() = %q", s)
	}
	if s := (Info{Version: "dev", Commit: "unknown", GoVersion: "go1"}).String(); !strings.Contains(s, "commit unknown") {
		t.Errorf("String() = %q", s)
	}
}

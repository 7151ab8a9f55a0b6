package serve

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestPprofLoopbackOnly(t *testing.T) {
	if _, _, err := startPprof("0.0.0.0:0", slog.Default()); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("pprof on 0.0.0.0: %v", err)
	}
	srv, addr, err := startPprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("pprof: %d", resp.StatusCode)
	}
}

package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/pemba-authz/pemba/internal/server"
)

// startPprof serves the Go profiler on a loopback address. Profiles reveal memory
// contents and cost CPU, so it is off unless asked for and never reachable from the
// network. It returns the server (stop it with Close) and the address it listens on.
func startPprof(addr string, log *slog.Logger) (*http.Server, string, error) {
	if !server.IsLoopback(addr) {
		return nil, "", fmt.Errorf("pprof address %s is not a loopback address: the profiler may only listen on 127.0.0.1, ::1 or localhost", addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listening for pprof on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server stopped", "error", err)
		}
	}()
	log.Info("pprof listening", "addr", lis.Addr().String())
	return srv, lis.Addr().String(), nil
}

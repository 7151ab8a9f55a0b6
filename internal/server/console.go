package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc"

	"github.com/pemba-authz/pemba/internal/console"
)

// ConsoleKeyName is the principal of the web console's calls for signed-in people,
// as the audit trail names it. The key is a delegate key made at start-up: it can
// write only on behalf of an acting subject, and its secret never leaves the process.
const ConsoleKeyName = "console"

// addConsoleKey gives the console its own delegate key when the server has keys,
// and returns the secret the console sends. A server without keys needs none.
func addConsoleKey(cfg *Config) (string, error) {
	if cfg.Console == nil || len(cfg.Keys) == 0 {
		return "", nil
	}
	if slices.ContainsFunc(cfg.Keys, func(k Key) bool { return k.Name == ConsoleKeyName }) {
		return "", fmt.Errorf("a preshared key is named %q, the name the web console's own key takes; rename that key", ConsoleKeyName)
	}
	b := make([]byte, 32)
	rand.Read(b)
	secret := base64.RawURLEncoding.EncodeToString(b)
	cfg.Keys = append(slices.Clip(cfg.Keys), NewKey(ConsoleKeyName, RoleDelegate, nil, secret))
	return secret, nil
}

// adminKeyName tells whether secret is one of the server's admin keys (not the
// console's own) and returns its name. Like authenticate, it compares digests in
// constant time and looks at every key.
func (s *Server) adminKeyName(secret string) (string, bool) {
	if secret == "" {
		return "", false
	}
	digest := sha256.Sum256([]byte(secret))
	var found *Key
	for i := range s.cfg.Keys {
		if subtle.ConstantTimeCompare(digest[:], s.cfg.Keys[i].Digest[:]) == 1 {
			found = &s.cfg.Keys[i]
		}
	}
	if found == nil || found.Role != RoleAdmin {
		return "", false
	}
	return found.Name, true
}

// registerConsole adds the web console's routes when it is configured. Its calls go
// through conn, the REST gateway's in-process connection.
func (s *Server) registerConsole(mux *http.ServeMux, conn grpc.ClientConnInterface) error {
	if s.cfg.Console == nil {
		return nil
	}
	opts := console.Options{
		Config: *s.cfg.Console,
		Conn:   conn,
		Bearer: s.consoleSecret,
		// Cookies are Secure unless the browser can only reach the server over
		// plain HTTP on this machine.
		SecureCookies: s.cfg.TLS != nil || !IsLoopback(s.cfg.HTTPAddr) || strings.HasPrefix(s.cfg.PublicURL, "https:"),
		Logger:        s.log,
	}
	if len(s.cfg.Keys) > 0 {
		opts.AdminKey = s.adminKeyName
	}
	h, err := console.New(opts)
	if err != nil {
		return err
	}
	h.Register(mux)
	return nil
}

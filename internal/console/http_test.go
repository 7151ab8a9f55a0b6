package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/console"
	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/serve"
	"github.com/pemba-authz/pemba/internal/server"
)

// noRedirects is an HTTP client that shows redirects instead of following them.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

func get(t *testing.T, u string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// With the console off (the default) no /console route exists: the gateway's 404.
func TestConsoleOffServesNoRoute(t *testing.T) {
	st, err := serve.NewStack(memory.New(datastore.Options{}), serve.StackOptions{Server: server.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { st.Server.Shutdown(context.Background()); st.Close() }()
	for _, p := range []string{"/console", "/console/", "/console/login", "/console/static/console.css", "/console/callback"} {
		resp, body := get(t, "http://"+st.Server.HTTPAddr()+p)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Pemba console") {
			t.Errorf("GET %s with the console off: %d %q", p, resp.StatusCode, body)
		}
	}
}

// A preshared key may not take the name of the console's own key.
func TestConsoleKeyNameIsReserved(t *testing.T) {
	_, err := serve.NewStack(memory.New(datastore.Options{}), serve.StackOptions{Server: server.Config{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Keys:    []server.Key{server.NewKey("console", server.RoleAdmin, nil, "s")},
		Console: &console.Config{},
	}})
	if err == nil || !strings.Contains(err.Error(), `named "console"`) {
		t.Fatalf("got %v, want a refusal naming the key", err)
	}
}

// Every page carries the security headers; the session cookie is HttpOnly,
// SameSite=Lax and (on plain-HTTP loopback only) not Secure; sign-in without a
// pending session, or with another state, is refused.
func TestConsoleHeadersCookiesAndCallbackChecks(t *testing.T) {
	s := startConsoleServer(t)
	resp, body := get(t, s.base+"/console/login")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in with single sign-on") {
		t.Fatalf("login page: %d %s", resp.StatusCode, body)
	}
	h := resp.Header
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "onclick=") {
		t.Error("the login page has inline script or style")
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "pemba_console" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure || session.Path != "/console" {
		t.Fatalf("session cookie %+v", session)
	}

	// The home page of a pending (not signed-in) session sends to sign-in.
	if resp, _ := get(t, s.base+"/console/", session); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
		t.Errorf("pending session on /console/: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A callback this browser did not start.
	if resp, body := get(t, s.base+"/console/callback?code=x&state=y"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no sign-in is in progress") {
		t.Errorf("callback without a session: %d %s", resp.StatusCode, body)
	}
	// A started sign-in, answered with another state (a login CSRF attempt).
	resp, _ = get(t, s.base+"/console/login/oidc")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start of sign-in: %d", resp.StatusCode)
	}
	auth, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(auth.String(), s.idp.issuer()+"/authorize") {
		t.Fatalf("sign-in went to %v", auth)
	}
	var pending *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "pemba_console" {
			pending = c
		}
	}
	resp, body = get(t, s.base+"/console/callback?code=x&state=forged", pending)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "state parameter does not match") {
		t.Errorf("callback with a forged state: %d %s", resp.StatusCode, body)
	}
	// The static assets are served with the same policy.
	if resp, body := get(t, s.base+"/console/static/console.js"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "use strict") {
		t.Errorf("console.js: %d", resp.StatusCode)
	}
}

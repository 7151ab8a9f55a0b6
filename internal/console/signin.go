package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// oidcClient is the console's relying party. Discovery runs on first use and again
// after a failure, so a provider that is down at start-up does not stop the server.
type oidcClient struct {
	cfg    Config
	client *http.Client

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDCClient(cfg Config, client *http.Client) *oidcClient {
	return &oidcClient{cfg: cfg, client: client}
}

// discover reads the provider's discovery document (once it has succeeded, never
// again) and returns the OAuth2 configuration and the ID-token verifier, which
// checks signature (against the provider's JWKS), issuer, audience and expiry.
func (o *oidcClient) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.oauth != nil {
		return o.oauth, o.verifier, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the identity provider's discovery document at %s: %w", o.cfg.Issuer, err)
	}
	o.oauth = &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: o.cfg.RedirectURL,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
	}
	// The verifier fetches and caches the JWKS with the client discovery used.
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID})
	return o.oauth, o.verifier, nil
}

// loginPage offers single sign-on and, for operators, admin-key sign-in. It gives
// the browser a short pending session so the key form has a CSRF token.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	s, _ := h.session(r)
	if s != nil && s.signedIn() {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	if s == nil {
		var err error
		if s, err = h.startSession(w, &session{}, pendingSessionTTL); err != nil {
			h.fail(w, r, nil, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	v := view{Title: "Sign in", Data: struct{ SSO, Operators bool }{h.oidc != nil, h.opts.AdminKey != nil}}
	if r.URL.Query().Get("signed_out") != "" {
		v.Flash = "You have signed out; your session has ended on the server."
	}
	h.render(w, http.StatusOK, "login", s, v)
}

// startSession stores s for ttl and sets its cookie.
func (h *Handler) startSession(w http.ResponseWriter, s *session, ttl time.Duration) (*session, error) {
	id, err := h.sessions.create(s, ttl)
	if err != nil {
		return nil, err
	}
	http.SetCookie(w, h.sessionCookie(id, ttl))
	return s, nil
}

// startOIDC begins the authorization code flow: a fresh state, nonce and PKCE
// verifier are kept in the browser's pending session, and the browser goes to the
// provider with the state, the nonce and the verifier's S256 challenge.
func (h *Handler) startOIDC(w http.ResponseWriter, r *http.Request) {
	if h.oidc == nil {
		h.fail(w, r, nil, http.StatusNotFound, "single sign-on is not configured on this server (--console-issuer)")
		return
	}
	oauth, _, err := h.oidc.discover(r.Context())
	if err != nil {
		h.log.Warn("console: identity provider discovery failed", "error", err)
		h.fail(w, r, nil, http.StatusBadGateway, "the identity provider cannot be reached: "+err.Error())
		return
	}
	p := &session{state: randomToken(), nonce: randomToken(), verifier: oauth2.GenerateVerifier()}
	// A new pending session for every attempt: an old one (or a signed-in one) is
	// never reused across a sign-in, so a planted session id gains nothing.
	if old, id := h.session(r); old != nil {
		h.sessions.remove(id)
	}
	if _, err := h.startSession(w, p, pendingSessionTTL); err != nil {
		h.fail(w, r, nil, http.StatusServiceUnavailable, err.Error())
		return
	}
	u := oauth.AuthCodeURL(p.state, oauth2.S256ChallengeOption(p.verifier), oidc.Nonce(p.nonce))
	http.Redirect(w, r, u, http.StatusFound)
}

// callback finishes the flow: the state must be the pending session's, the code is
// exchanged with the PKCE verifier, and the ID token must verify (signature, issuer,
// audience, expiry) and carry the session's nonce. Then the claim names the acting
// subject and a new session replaces the pending one.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	if h.oidc == nil {
		h.fail(w, r, nil, http.StatusNotFound, "single sign-on is not configured on this server (--console-issuer)")
		return
	}
	p, pid := h.session(r)
	refuse := func(code int, format string, args ...any) {
		if p != nil {
			h.sessions.remove(pid)
			http.SetCookie(w, h.sessionCookie("", 0))
		}
		msg := "sign-in refused: " + fmt.Sprintf(format, args...)
		h.log.Info("console: sign-in refused", "reason", msg)
		h.fail(w, r, nil, code, msg)
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		refuse(http.StatusUnauthorized, "the identity provider answered %s: %s", truncate(e, 100), truncate(q.Get("error_description"), 300))
		return
	}
	if p == nil || p.state == "" {
		refuse(http.StatusBadRequest, "no sign-in is in progress in this browser (it may have taken longer than %s); start again", pendingSessionTTL)
		return
	}
	if !equalTokens(q.Get("state"), p.state) {
		refuse(http.StatusBadRequest, "the state parameter does not match the sign-in this browser started")
		return
	}
	code := q.Get("code")
	if code == "" {
		refuse(http.StatusBadRequest, "the identity provider sent no authorization code")
		return
	}
	oauth, verifier, err := h.oidc.discover(r.Context())
	if err != nil {
		refuse(http.StatusBadGateway, "%v", err)
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, h.opts.HTTPClient)
	tok, err := oauth.Exchange(ctx, code, oauth2.VerifierOption(p.verifier))
	if err != nil {
		refuse(http.StatusUnauthorized, "exchanging the authorization code failed: %v", err)
		return
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		refuse(http.StatusUnauthorized, "the identity provider's token response has no id_token")
		return
	}
	idt, err := verifier.Verify(r.Context(), raw)
	if err != nil {
		refuse(http.StatusUnauthorized, "the ID token is not valid: %v", err)
		return
	}
	if !equalTokens(idt.Nonce, p.nonce) {
		refuse(http.StatusUnauthorized, "the ID token's nonce does not match the sign-in this browser started")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		refuse(http.StatusUnauthorized, "reading the ID token's claims: %v", err)
		return
	}
	s, err := h.identify(claims)
	if err != nil {
		refuse(http.StatusUnauthorized, "%v", err)
		return
	}
	h.sessions.remove(pid)
	if _, err := h.startSession(w, s, h.cfg.SessionTTL); err != nil {
		h.fail(w, r, nil, http.StatusServiceUnavailable, err.Error())
		return
	}
	h.log.Info("console: signed in", "subject", s.subject.String(), "tenant", s.tenant)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// identify maps an ID token's claims to a signed-in session: the subject claim
// names the acting subject, the tenant claim (when configured) the tenant.
func (h *Handler) identify(claims map[string]any) (*session, error) {
	id, ok := claims[h.cfg.SubjectClaim].(string)
	if !ok || id == "" {
		return nil, fmt.Errorf("the ID token has no string claim %q to name you by (--console-subject-claim)", h.cfg.SubjectClaim)
	}
	subject := tuple.SubjectRef{Type: h.cfg.SubjectType, ID: id}
	if err := tuple.ValidateSubject(subject); err != nil || subject.IsWildcard() {
		return nil, fmt.Errorf("claim %q = %q does not make a subject %s:%s: %v", h.cfg.SubjectClaim, truncate(id, 100), h.cfg.SubjectType, truncate(id, 100), err)
	}
	s := &session{subject: &subject}
	if h.cfg.TenantClaim != "" {
		t, ok := claims[h.cfg.TenantClaim].(string)
		if !ok || t == "" {
			return nil, fmt.Errorf("the ID token has no string claim %q to name your tenant by (--console-tenant-claim)", h.cfg.TenantClaim)
		}
		if err := tuple.ValidateTenantName(t); err != nil {
			return nil, fmt.Errorf("claim %q: %v", h.cfg.TenantClaim, err)
		}
		s.tenant = t
	}
	for _, c := range []string{"email", "name", "preferred_username"} {
		if v, ok := claims[c].(string); ok && v != "" {
			s.display = truncate(v, 100)
			break
		}
	}
	return s, nil
}

// keySignIn signs an operator in with an admin key. The key stays in the server's
// memory with the session; the browser holds only the session id.
func (h *Handler) keySignIn(w http.ResponseWriter, r *http.Request) {
	old, oldID := h.session(r)
	if h.opts.AdminKey == nil {
		h.fail(w, r, old, http.StatusForbidden, "operator sign-in is off: this server has no preshared keys")
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("key"))
	name, ok := h.opts.AdminKey(secret)
	if !ok {
		h.log.Info("console: operator sign-in refused")
		h.fail(w, r, old, http.StatusUnauthorized, "sign-in refused: that is not an admin key of this server")
		return
	}
	tenant := strings.TrimSpace(r.PostForm.Get("tenant"))
	if tenant != "" {
		if err := tuple.ValidateTenantName(tenant); err != nil {
			h.fail(w, r, old, http.StatusBadRequest, "tenant: "+err.Error())
			return
		}
	}
	h.sessions.remove(oldID)
	if _, err := h.startSession(w, &session{operator: name, key: secret, tenant: tenant}, h.cfg.SessionTTL); err != nil {
		h.fail(w, r, nil, http.StatusServiceUnavailable, err.Error())
		return
	}
	h.log.Info("console: operator signed in", "key", name, "tenant", tenant)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// logout ends the session on the server and clears the cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if _, id := h.session(r); id != "" {
		h.sessions.remove(id)
	}
	http.SetCookie(w, h.sessionCookie("", 0))
	http.Redirect(w, r, Prefix+"/login?signed_out=1", http.StatusSeeOther)
}

// truncate bounds text taken from outside before it is shown or logged.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

package console_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Token modes of the test identity provider: what is wrong with the ID tokens it
// issues.
const (
	tokenGood          = ""
	tokenTampered      = "tampered"       // payload changed after signing
	tokenExpired       = "expired"        // exp an hour ago
	tokenWrongAudience = "wrong-audience" // issued to another client
)

// testIdP is an OpenID Connect provider inside the test process: discovery, JWKS,
// an authorization endpoint with a sign-in form, and a token endpoint that checks
// the client secret and the PKCE verifier and signs real RS256 ID tokens.
type testIdP struct {
	t        *testing.T
	srv      *httptest.Server
	key      *rsa.PrivateKey
	clientID string
	secret   string

	mu    sync.Mutex
	mode  string
	codes map[string]pendingCode
	// authRequests records every authorization request's query, to check that the
	// console sends PKCE, state and nonce.
	authRequests []url.Values
}

type pendingCode struct {
	user, nonce, challenge, redirect string
}

func newTestIdP(t *testing.T, clientID, secret string) *testIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &testIdP{t: t, key: key, clientID: clientID, secret: secret, codes: map[string]pendingCode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /authorize", p.approve)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *testIdP) issuer() string { return p.srv.URL }

// setMode makes the next ID tokens good or broken in one way.
func (p *testIdP) setMode(m string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
}

func (p *testIdP) lastAuthRequest() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.authRequests) == 0 {
		return nil
	}
	return p.authRequests[len(p.authRequests)-1]
}

func (p *testIdP) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer(),
		"authorization_endpoint":                p.issuer() + "/authorize",
		"token_endpoint":                        p.issuer() + "/token",
		"jwks_uri":                              p.issuer() + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (p *testIdP) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.key.PublicKey, KeyID: "test-key", Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

var signInForm = template.Must(template.New("").Parse(`<!doctype html><html lang="en"><head><title>Test IdP</title></head><body>
<h1>Test identity provider</h1>
<form method="post" action="/authorize">
{{range $k, $v := .}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}
<label for="username">Username</label><input id="username" name="username">
<button id="idp-submit" type="submit">Sign in</button>
</form></body></html>`))

// authorize checks the request the way a strict provider does (client, redirect,
// S256 PKCE challenge, state and nonce all required) and shows a sign-in form.
func (p *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.authRequests = append(p.authRequests, q)
	p.mu.Unlock()
	switch {
	case q.Get("client_id") != p.clientID:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
	case q.Get("response_type") != "code":
		http.Error(w, "response_type must be code", http.StatusBadRequest)
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "PKCE with S256 is required", http.StatusBadRequest)
	case q.Get("state") == "" || q.Get("nonce") == "":
		http.Error(w, "state and nonce are required", http.StatusBadRequest)
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "scope must include openid", http.StatusBadRequest)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		signInForm.Execute(w, q)
	}
}

// approve signs the user in and sends the browser back with a code.
func (p *testIdP) approve(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	code := randomString()
	p.mu.Lock()
	p.codes[code] = pendingCode{
		user: r.PostForm.Get("username"), nonce: r.PostForm.Get("nonce"),
		challenge: r.PostForm.Get("code_challenge"), redirect: r.PostForm.Get("redirect_uri"),
	}
	p.mu.Unlock()
	u, err := url.Parse(r.PostForm.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := u.Query()
	v.Set("code", code)
	v.Set("state", r.PostForm.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// token redeems a code once, checking the client secret, the redirect URI and the
// PKCE verifier against the challenge.
func (p *testIdP) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.secret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	c, found := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code"))
	mode := p.mode
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !found || r.PostForm.Get("grant_type") != "authorization_code":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	case r.PostForm.Get("redirect_uri") != c.redirect:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri differs"})
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verifier does not match"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": randomString(), "token_type": "Bearer", "expires_in": 300,
		"id_token": p.idToken(c.user, c.nonce, mode),
	})
}

// idToken signs an ID token for user, broken as mode says.
func (p *testIdP) idToken(user, nonce, mode string) string {
	now := time.Now()
	claims := map[string]any{
		"iss": p.issuer(), "sub": user, "aud": p.clientID, "nonce": nonce,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"email": user + "@example.com",
	}
	switch mode {
	case tokenExpired:
		claims["iat"], claims["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	case tokenWrongAudience:
		claims["aud"] = "another-client"
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "test-key"))
	if err != nil {
		p.t.Error(err)
		return ""
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		p.t.Error(err)
		return ""
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		p.t.Error(err)
		return ""
	}
	if mode == tokenTampered {
		// Keep the signature, change who the token names: a forged promotion.
		parts := strings.Split(compact, ".")
		claims["sub"] = "root"
		forged, _ := json.Marshal(claims)
		parts[1] = base64.RawURLEncoding.EncodeToString(forged)
		compact = strings.Join(parts, ".")
	}
	return compact
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

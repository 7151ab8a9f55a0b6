package console

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// contentSecurityPolicy allows the console's own stylesheet, script and images and
// nothing else: no inline script or style, no other origin, no framing, and forms
// post only to the console.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Options are what the console needs from the server it runs in.
type Options struct {
	Config
	// Conn reaches the server's own gRPC services (the REST gateway's in-process
	// connection), so every call passes authentication, limits and the audit trail.
	Conn grpc.ClientConnInterface
	// Bearer is the key the console's calls for signed-in people carry; empty on a
	// server without keys. The server gives the console a delegate key, so those
	// calls can write only on behalf of an acting subject.
	Bearer string
	// AdminKey tells whether secret is an admin key and returns its name; nil (or a
	// server without keys) turns operator sign-in off.
	AdminKey func(secret string) (name string, ok bool)
	// SecureCookies marks the session cookie Secure; the server clears it only when
	// it serves plain HTTP on loopback.
	SecureCookies bool
	// HTTPClient talks to the identity provider; default one with a 10s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock of sessions; default time.Now.
	Now func() time.Time
}

// Handler serves the console.
type Handler struct {
	opts     Options
	cfg      Config
	api      *api
	sessions *sessionStore
	oidc     *oidcClient
	pages    map[string]*template.Template
	static   http.Handler
	log      *slog.Logger
}

// New builds the console. It does not contact the identity provider: discovery runs
// at the first sign-in and is retried until it succeeds, so the server starts while
// the provider is down.
func New(opts Options) (*Handler, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Conn == nil {
		return nil, fmt.Errorf("console: no connection to the services")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg := opts.Config.withDefaults()
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	h := &Handler{
		opts: opts, cfg: cfg,
		api:      newAPI(opts.Conn, cfg),
		sessions: newSessionStore(opts.Now),
		pages:    pages,
		static:   http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)),
		log:      opts.Logger,
	}
	if cfg.Issuer != "" {
		h.oidc = newOIDCClient(cfg, opts.HTTPClient)
	}
	return h, nil
}

// parsePages parses each page template together with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"inc": func(i int) int { return i + 1 }}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// Register adds the console's routes to mux, all under /console.
func (h *Handler) Register(mux *http.ServeMux) {
	handle := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, h.secure(fn)) }
	handle("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
	})
	handle("GET "+Prefix+"/{$}", h.signedIn(h.home))
	handle("GET "+Prefix+"/login", h.loginPage)
	handle("GET "+Prefix+"/login/oidc", h.startOIDC)
	handle("GET "+CallbackPath, h.callback)
	handle("POST "+Prefix+"/login/key", h.csrfChecked(h.keySignIn))
	handle("POST "+Prefix+"/logout", h.csrfChecked(h.logout))
	handle("GET "+Prefix+"/orgs/{id}", h.signedIn(h.orgPage))
	handle("POST "+Prefix+"/orgs/{id}/members", h.signedIn(h.csrfChecked(h.addMember)))
	handle("POST "+Prefix+"/orgs/{id}/members/remove", h.signedIn(h.csrfChecked(h.removeMember)))
	handle("POST "+Prefix+"/orgs/{id}/members/role", h.signedIn(h.csrfChecked(h.changeRole)))
	handle("GET "+Prefix+"/access", h.signedIn(h.access))
	handle("GET "+Prefix+"/inbox", h.signedIn(h.inbox))
	handle("POST "+Prefix+"/inbox/{id}/approve", h.signedIn(h.csrfChecked(h.decideRequest(true))))
	handle("POST "+Prefix+"/inbox/{id}/deny", h.signedIn(h.csrfChecked(h.decideRequest(false))))
	handle("GET "+Prefix+"/orgs/{id}/audit", h.signedIn(h.timeline))
	handle("GET "+Prefix+"/orgs/{id}/offboard", h.signedIn(h.offboardPage))
	handle("POST "+Prefix+"/orgs/{id}/offboard", h.signedIn(h.csrfChecked(h.offboardSubmit)))
	// No catch-all under /console/: it would overlap the AuthZEN routes of a tenant
	// named "console"; other paths get the gateway's 404.
	handle("GET "+Prefix+"/static/", h.static.ServeHTTP)
}

// secure sets the headers every console response carries.
func (h *Handler) secure(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		// The callback URL carries the authorization code: never send it onwards.
		hd.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, Prefix+"/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		next(w, r)
	})
}

// signedIn serves only requests of a signed-in session; others go to the sign-in
// page (GET) or are refused (POST).
func (h *Handler) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, _ := h.session(r)
		if s == nil || !s.signedIn() {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
				return
			}
			h.fail(w, r, nil, http.StatusUnauthorized, "your session has ended or never began: sign in again")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	}
}

// csrfChecked refuses a form whose csrf field is not the session's token, and a
// request whose Origin header names another site.
func (h *Handler) csrfChecked(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		s, _ := h.session(r)
		if origin := r.Header.Get("Origin"); origin != "" && origin != "null" && !sameOrigin(origin, r) {
			h.fail(w, r, s, http.StatusForbidden, fmt.Sprintf("refused: the form was sent from another site (%s)", origin))
			return
		}
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, s, http.StatusBadRequest, "the form could not be read: "+err.Error())
			return
		}
		if s == nil || !equalTokens(r.PostForm.Get("csrf"), s.csrf) {
			h.fail(w, r, s, http.StatusForbidden, "refused: the form's CSRF token is missing or does not match your session; reload the page and try again")
			return
		}
		next(w, r)
	}
}

// maxFormBytes bounds a form body; the console's forms are a few short fields.
const maxFormBytes = 16 << 10

// sameOrigin reports whether an Origin header names the host the request came to.
func sameOrigin(origin string, r *http.Request) bool {
	_, host, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(host, r.Host)
}

// view is what every page template receives.
type view struct {
	Title string
	// Who is the signed-in identity; empty before sign-in.
	Who, Tenant, CSRF string
	Operator          bool
	Flash, Error      string
	Data              any
}

// render writes a page with status code.
func (h *Handler) render(w http.ResponseWriter, code int, page string, s *session, v view) {
	if s != nil {
		h.sessions.update(s, func(s *session) {
			v.CSRF = s.csrf
			if s.signedIn() {
				v.Who, v.Tenant, v.Operator = s.who(), s.tenant, s.operator != ""
				if s.display != "" {
					v.Who = s.display + " (" + s.who() + ")"
				}
			}
			if v.Flash == "" {
				v.Flash, s.flash = s.flash, ""
			}
		})
	}
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.Error("console: rendering a page", "page", page, "error", err)
		http.Error(w, "the console failed to render this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// fail shows an error page with the message.
func (h *Handler) fail(w http.ResponseWriter, _ *http.Request, s *session, code int, msg string) {
	h.render(w, code, "error", s, view{Title: http.StatusText(code), Error: msg})
}

// setFlash keeps a message for the session's next page.
func (h *Handler) setFlash(s *session, msg string) {
	h.sessions.update(s, func(s *session) { s.flash = msg })
}

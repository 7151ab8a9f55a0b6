package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// cookieName is the session cookie. It holds only a random session id; everything
// else stays on the server.
const cookieName = "pemba_console"

// Bounds of the session store: a visitor who never signs in costs one short-lived
// pending session, and the store never grows past maxSessions.
const (
	maxSessions       = 10000
	pendingSessionTTL = 10 * time.Minute
)

// errTooManySessions is returned when the store is full of live sessions.
var errTooManySessions = errors.New("the console has too many open sessions; try again later")

// session is one browser's state on the server. Before sign-in it carries the
// pending OpenID Connect exchange (state, nonce, PKCE verifier); after sign-in it
// names who is acting.
type session struct {
	expires time.Time
	// csrf is the token every state-changing form of the session must carry.
	csrf string

	// The pending sign-in.
	state, nonce, verifier string

	// Who is signed in: a person (subject set), or an operator with an admin key
	// (operator set, key kept only here, in the server's memory).
	subject  *tuple.SubjectRef
	operator string
	key      string
	// display is the name shown in the header (the person's email or name claim).
	display string
	tenant  string
	// flash is a one-time message shown on the next page.
	flash string
}

// signedIn reports whether the session belongs to someone.
func (s *session) signedIn() bool { return s.subject != nil || s.operator != "" }

// who is the acting identity as shown to the person.
func (s *session) who() string {
	if s.subject != nil {
		return s.subject.String()
	}
	return "operator " + s.operator
}

// sessionStore keeps sessions in memory, keyed by the digest of their id so a
// lookup's timing says nothing about stored ids.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[[sha256.Size]byte]*session
	now      func() time.Time
}

func newSessionStore(now func() time.Time) *sessionStore {
	return &sessionStore{sessions: map[[sha256.Size]byte]*session{}, now: now}
}

// create stores a new session that lives for ttl and returns its id.
func (st *sessionStore) create(s *session, ttl time.Duration) (string, error) {
	id := randomToken()
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sessions) >= maxSessions {
		st.pruneLocked()
		if len(st.sessions) >= maxSessions {
			return "", errTooManySessions
		}
	}
	s.expires = st.now().Add(ttl)
	if s.csrf == "" {
		s.csrf = randomToken()
	}
	st.sessions[sha256.Sum256([]byte(id))] = s
	return id, nil
}

// get returns the live session with id; an expired one is removed and not found.
func (st *sessionStore) get(id string) *session {
	if id == "" {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[k]
	if !ok {
		return nil
	}
	if !st.now().Before(s.expires) {
		delete(st.sessions, k)
		return nil
	}
	return s
}

// update runs fn on the session under the store's lock (sessions are shared by the
// concurrent requests of one browser).
func (st *sessionStore) update(s *session, fn func(*session)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fn(s)
}

// remove forgets a session.
func (st *sessionStore) remove(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.sessions, sha256.Sum256([]byte(id)))
}

func (st *sessionStore) pruneLocked() {
	now := st.now()
	for k, s := range st.sessions {
		if !now.Before(s.expires) {
			delete(st.sessions, k)
		}
	}
}

// randomToken is 32 bytes from the system's random source, base64url-encoded.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// equalTokens compares two secrets in constant time; an empty one never matches.
func equalTokens(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sessionCookie is the cookie carrying id, or one that deletes it (id empty).
func (h *Handler) sessionCookie(id string, ttl time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: cookieName, Value: id, Path: Prefix,
		HttpOnly: true, Secure: h.opts.SecureCookies,
		// Lax, not Strict: the identity provider sends the browser back to the
		// callback with a cross-site navigation, which must carry the cookie.
		SameSite: http.SameSiteLaxMode,
	}
	if id == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(ttl.Seconds())
	}
	return c
}

// sessionKey holds, in a request's context, the session signedIn found, so the
// handler works with that session even if it expires a moment later.
type sessionKey struct{}

// session returns the request's live session, or nil.
func (h *Handler) session(r *http.Request) (*session, string) {
	if s, ok := r.Context().Value(sessionKey{}).(*session); ok {
		c, _ := r.Cookie(cookieName)
		return s, c.Value
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, ""
	}
	return h.sessions.get(c.Value), c.Value
}

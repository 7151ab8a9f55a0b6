package serve

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/console"
)

// ConsoleSecretEnv holds the console's OAuth2 client secret when no secret file is
// given. There is no flag for the secret itself, so it never shows in a process list.
const ConsoleSecretEnv = "PEMBA_CONSOLE_CLIENT_SECRET"

// maxSecretFileBytes bounds the client secret file (a secret is a line of text).
const maxSecretFileBytes = 64 << 10

// ConsoleConfig is the web console's part of the serve configuration (the
// --console-* flags).
type ConsoleConfig struct {
	// Enabled serves the console at /console; off, no /console route exists.
	Enabled bool
	// Issuer, ClientID and RedirectURL register the console with an OpenID Connect
	// provider; ClientSecretFile holds the client secret (else ConsoleSecretEnv).
	Issuer, ClientID, ClientSecretFile, RedirectURL string
	// SubjectClaim and SubjectType map a signed-in person to the acting subject;
	// TenantClaim, when set, names the claim that gives the tenant.
	SubjectClaim, SubjectType, TenantClaim string
	// SessionTTL is how long a console session lasts.
	SessionTTL time.Duration
}

// DefaultConsoleConfig is the flags' defaults: off, sub → user:<sub>, 8h sessions.
func DefaultConsoleConfig() ConsoleConfig {
	return ConsoleConfig{
		SubjectClaim: console.DefaultSubjectClaim,
		SubjectType:  console.DefaultSubjectType,
		SessionTTL:   console.DefaultSessionTTL,
	}
}

// load turns the flags into the console's configuration, reading the client secret,
// and checks it; nil when the console is off.
func (c ConsoleConfig) load() (*console.Config, error) {
	if !c.Enabled {
		if c.Issuer != "" || c.ClientID != "" || c.RedirectURL != "" {
			return nil, errors.New("--console-issuer, --console-client-id or --console-redirect-url is set but the console is off: add --console")
		}
		return nil, nil
	}
	secret := os.Getenv(ConsoleSecretEnv)
	if c.ClientSecretFile != "" {
		b, err := readBounded(c.ClientSecretFile, maxSecretFileBytes)
		if err != nil {
			return nil, fmt.Errorf("--console-client-secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return nil, fmt.Errorf("--console-client-secret-file %s is empty", c.ClientSecretFile)
		}
	}
	cfg := &console.Config{
		Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: secret, RedirectURL: c.RedirectURL,
		SubjectClaim: c.SubjectClaim, SubjectType: c.SubjectType, TenantClaim: c.TenantClaim,
		SessionTTL: c.SessionTTL,
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a secret may take", path, st.Size(), limit)
	}
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	if st.Size() == 0 {
		err = nil
	}
	return b, err
}

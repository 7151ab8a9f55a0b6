package console

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Paths of the console. Every route lies under Prefix.
const (
	Prefix       = "/console"
	CallbackPath = Prefix + "/callback"
)

// Defaults of Config.
const (
	DefaultSubjectClaim     = "sub"
	DefaultSubjectType      = "user"
	DefaultSessionTTL       = 8 * time.Hour
	DefaultOrganizationType = "organization"
	DefaultAdminPermission  = "manage"
)

// Config says how people sign in and what the console shows them.
type Config struct {
	// Issuer is the OpenID Connect issuer URL; its discovery document is read from
	// Issuer + "/.well-known/openid-configuration". Empty turns single sign-on off
	// (only operators with an admin key can sign in).
	Issuer string
	// ClientID and ClientSecret are the console's registration at the issuer.
	ClientID     string
	ClientSecret string
	// RedirectURL is the registered redirect URI; its path must be /console/callback.
	RedirectURL string
	// SubjectClaim is the ID-token claim that names the person (default "sub"), and
	// SubjectType the subject type it becomes (default "user"): sub "alice" acts as
	// user:alice.
	SubjectClaim string
	SubjectType  string
	// TenantClaim, when set, is the claim that names the tenant the person works in;
	// without it everyone works in the default tenant.
	TenantClaim string
	// SessionTTL is how long a session lasts after sign-in (default 8h); the server
	// forgets it then, whatever the browser keeps.
	SessionTTL time.Duration
	// OrganizationType is the definition of organisations (default "organization")
	// and AdminPermission the permission that makes someone their administrator
	// (default "manage").
	OrganizationType string
	AdminPermission  string
}

// withDefaults fills the documented defaults.
func (c Config) withDefaults() Config {
	if c.SubjectClaim == "" {
		c.SubjectClaim = DefaultSubjectClaim
	}
	if c.SubjectType == "" {
		c.SubjectType = DefaultSubjectType
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.OrganizationType == "" {
		c.OrganizationType = DefaultOrganizationType
	}
	if c.AdminPermission == "" {
		c.AdminPermission = DefaultAdminPermission
	}
	return c
}

// Validate checks the configuration and names the setting at fault.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := tuple.ValidateTypeName("console subject type", c.SubjectType); err != nil {
		return err
	}
	if err := tuple.ValidateTypeName("console organization type", c.OrganizationType); err != nil {
		return err
	}
	if err := tuple.ValidateRelationName("console admin permission", c.AdminPermission); err != nil {
		return err
	}
	if c.Issuer == "" {
		if c.ClientID != "" || c.RedirectURL != "" {
			return errors.New("console: a client ID or redirect URL is set but no issuer (--console-issuer)")
		}
		return nil
	}
	iss, err := url.Parse(c.Issuer)
	if err != nil || iss.Host == "" || (iss.Scheme != "https" && !(iss.Scheme == "http" && isLoopbackHost(iss.Hostname()))) {
		return fmt.Errorf("console: issuer %q must be an https URL (http only on loopback)", c.Issuer)
	}
	if c.ClientID == "" {
		return errors.New("console: the issuer is set but no client ID (--console-client-id)")
	}
	red, err := url.Parse(c.RedirectURL)
	if c.RedirectURL == "" || err != nil || red.Host == "" || (red.Scheme != "https" && red.Scheme != "http") {
		return fmt.Errorf("console: redirect URL %q must be an absolute http(s) URL ending in %s (--console-redirect-url)", c.RedirectURL, CallbackPath)
	}
	if red.Path != CallbackPath {
		return fmt.Errorf("console: redirect URL %q must have the path %s, where the console receives the sign-in", c.RedirectURL, CallbackPath)
	}
	if red.Scheme == "http" && !isLoopbackHost(red.Hostname()) {
		return fmt.Errorf("console: redirect URL %q must be https (http only on loopback): the authorization code travels in it", c.RedirectURL)
	}
	if strings.TrimSpace(c.SubjectClaim) == "" {
		return errors.New("console: the subject claim is empty")
	}
	return nil
}

// isLoopbackHost reports whether a host name is a loopback name or address.
func isLoopbackHost(h string) bool {
	switch h {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return strings.HasPrefix(h, "127.")
}

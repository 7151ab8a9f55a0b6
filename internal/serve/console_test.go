package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConsoleConfigLoad(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	base := DefaultConsoleConfig()
	base.Enabled = true
	base.Issuer, base.ClientID = "https://login.example.com", "pemba"
	base.RedirectURL = "https://pdp.example.com/console/callback"

	off := DefaultConsoleConfig()
	if cfg, err := off.load(); cfg != nil || err != nil {
		t.Fatalf("console off: %v %v", cfg, err)
	}

	c := base
	c.ClientSecretFile = secretFile
	cfg, err := c.load()
	if err != nil || cfg.ClientSecret != "s3cret" || cfg.SubjectClaim != "sub" || cfg.SubjectType != "user" {
		t.Fatalf("from a file: %+v %v", cfg, err)
	}

	t.Setenv(ConsoleSecretEnv, "from-env")
	if cfg, err := base.load(); err != nil || cfg.ClientSecret != "from-env" {
		t.Fatalf("from the environment: %+v %v", cfg, err)
	}

	for name, tc := range map[string]struct {
		mutate func(*ConsoleConfig)
		want   string
	}{
		"flags without --console": {func(c *ConsoleConfig) { c.Enabled = false }, "add --console"},
		"empty secret file":       {func(c *ConsoleConfig) { c.ClientSecretFile = empty }, "is empty"},
		"missing secret file":     {func(c *ConsoleConfig) { c.ClientSecretFile = filepath.Join(dir, "nope") }, "--console-client-secret-file"},
		"bad redirect":            {func(c *ConsoleConfig) { c.RedirectURL = "https://pdp.example.com/elsewhere" }, "/console/callback"},
	} {
		c := base
		tc.mutate(&c)
		if _, err := c.load(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
}

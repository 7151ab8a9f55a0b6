package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestEnvTwins(t *testing.T) {
	env := map[string]string{
		"PEMBA_GRPC_ADDR":     "127.0.0.1:6000",
		"PEMBA_PRESHARED_KEY": "a:admin:one  b:reader@t1,t2:two",
		"PEMBA_GC_INTERVAL":   "90s",
		"PEMBA_MEMORY_LIMIT":  "2147483648",     // as the downward API gives a container's limit
		"PEMBA_HTTP_ADDR":     "127.0.0.1:7000", // the flag below wins
		"PEMBA_MAX_PAGE_SIZE": "not-a-number",
	}
	old := getenv
	getenv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	defer func() { getenv = old }()

	cmd := newServeCommand()
	fs := cmd.Flags()
	if err := fs.Parse([]string{"--http-addr", "127.0.0.1:9999"}); err != nil {
		t.Fatal(err)
	}
	err := applyEnv(fs)
	if err == nil || !strings.Contains(err.Error(), "PEMBA_MAX_PAGE_SIZE") || !strings.Contains(err.Error(), "--max-page-size") {
		t.Fatalf("a bad value was not reported: %v", err)
	}
	delete(env, "PEMBA_MAX_PAGE_SIZE")
	if err := applyEnv(fs); err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return fs.Lookup(name).Value.String() }
	if get("grpc-addr") != "127.0.0.1:6000" || get("http-addr") != "127.0.0.1:9999" || get("gc-interval") != "1m30s" {
		t.Errorf("grpc-addr=%s http-addr=%s gc-interval=%s", get("grpc-addr"), get("http-addr"), get("gc-interval"))
	}
	if get("memory-limit") != "2Gi" {
		t.Errorf("memory-limit from PEMBA_MEMORY_LIMIT=2147483648 is %s, want 2Gi", get("memory-limit"))
	}
	keys, _ := fs.GetStringArray("preshared-key")
	if strings.Join(keys, "|") != "a:admin:one|b:reader@t1,t2:two" {
		t.Errorf("preshared keys from the environment = %q", keys)
	}

	// Every flag of every command has a twin named after it.
	root := NewRootCommand()
	for _, c := range root.Commands() {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if got := EnvName(f.Name); !strings.HasPrefix(got, "PEMBA_") || strings.Contains(got, "-") {
				t.Errorf("--%s: env name %s", f.Name, got)
			}
		})
	}
}

func TestSecretsAreNotEchoed(t *testing.T) {
	env := map[string]string{"PEMBA_PRESHARED_KEY": "x"}
	old := getenv
	getenv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	defer func() { getenv = old }()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Int("preshared-key", 0, "")
	env["PEMBA_PRESHARED_KEY"] = "super-secret-value"
	err := applyEnv(fs)
	if err == nil || strings.Contains(err.Error(), "super-secret-value") {
		t.Errorf("error %v echoes the secret", err)
	}
}

// The per-key quota flags hold numbers, not keys: a bad value is echoed so the user
// sees what was wrong.
func TestQuotaFlagErrorsAreShown(t *testing.T) {
	env := map[string]string{"PEMBA_KEY_BURST": "lots"}
	old := getenv
	getenv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	defer func() { getenv = old }()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Int("key-burst", 0, "")
	if err := applyEnv(fs); err == nil || !strings.Contains(err.Error(), "lots") {
		t.Errorf("PEMBA_KEY_BURST=lots: %v, want the error to show the value", err)
	}
}

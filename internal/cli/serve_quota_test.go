package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeQuotas runs the binary with quotas from a flag's environment twin, the
// quota file and the key file, and checks that the client sees their refusals.
func TestServeQuotas(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.yaml")
	quotas := filepath.Join(dir, "quotas.yaml")
	os.WriteFile(keys, []byte(`keys:
  - {name: admin, role: admin, key: `+cliAdminSecret+`}
  - name: auditor
    role: reader
    key: `+cliReaderSecret+`
    quota: {requests_per_second: 0.1, burst: 2}
`), 0o600)
	os.WriteFile(quotas, []byte(`tenants:
  big: {max_relationships: 100}
`), 0o600)
	p := startServe(t, []string{"PEMBA_TENANT_MAX_RELATIONSHIPS=2"}, "--datastore", "memory", "--quantization-window", "1ns",
		"--preshared-key-file", keys, "--quota-file", quotas)
	if log := p.log(); !strings.Contains(log, "tenant none, 2 relationships; key none; own quotas for 1 tenants (big)") {
		t.Errorf("the serving line does not describe the quotas:\n%s", log)
	}
	admin := newCLI(t, p, cliAdminSecret)
	admin.ok("schema", "write", referenceSchema)
	admin.ok("rel", "write", "organization:acme#member@user:alice", "organization:acme#member@user:bob")
	r := admin.expect(exitError, "rel", "write", "organization:acme#member@user:carol")
	mustContain(t, r, r.stderr, "pemba: RESOURCE_EXHAUSTED:", `tenant "default" stores 2 relationships`, "limit of 2", "--tenant-max-relationships")
	admin.ok("tenant", "create", "big")
	admin.ok("schema", "write", referenceSchema, "--tenant", "big")
	admin.ok("rel", "write", "--tenant", "big", "organization:acme#member@user:alice", "organization:acme#member@user:bob", "organization:acme#member@user:carol")

	auditor := newCLI(t, p, cliReaderSecret)
	for range 2 {
		auditor.ok("check", "organization:acme", "member", "user:alice")
	}
	r = auditor.expect(exitError, "check", "organization:acme", "member", "user:alice")
	mustContain(t, r, r.stderr, "pemba: RESOURCE_EXHAUSTED:", `key "auditor" is over its rate of 0.1/s`, "retry in")
}

// quotaErrorCases are bad quotas, which stop the server before it serves, with the
// file and the value at fault (run by TestServeFlagErrors).
func quotaErrorCases(t *testing.T) []struct {
	args []string
	want string
} {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	return []struct {
		args []string
		want string
	}{
		{[]string{"--tenant-max-concurrent", "-1"}, "quota flags: the default tenant quota: concurrent requests -1 is negative"},
		{[]string{"--key-burst", "5"}, "a burst of 5 needs a rate"},
		{[]string{"--quota-file", file("unknown.yaml", "tenants:\n  acme: {rps: 5}\n")}, "field rps not found"},
		{[]string{"--quota-file", file("name.yaml", "tenants:\n  Bad!: {burst: 1, requests_per_second: 1}\n")}, "tenant name"},
		{[]string{"--quota-file", file("empty.yaml", "tenants: {}\n")}, "has no tenants"},
		{[]string{"--quota-file", file("neg.yaml", "tenants:\n  acme: {max_relationships: -3}\n")}, `the quota of tenant "acme": relationships -3 is negative`},
		{[]string{"--preshared-key-file", file("keys.yaml", "keys:\n  - {name: a, role: admin, key: x, quota: {max_concurrent: -2}}\n")}, `the quota of key "a": concurrent requests -2 is negative`},
	}
}

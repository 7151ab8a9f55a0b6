package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Role is what a preshared key may do.
type Role string

// Roles.
const (
	// RoleAdmin may call everything.
	RoleAdmin Role = "admin"
	// RoleReader may check, look up, read, export, watch, read the schema, query the
	// audit trail and run access reviews.
	RoleReader Role = "reader"
	// RoleDelegate is a reader that may also write relationships, delete them and
	// offboard, but only on behalf of an acting subject: such writes are authorised
	// by the schema's grant rules against that subject.
	RoleDelegate Role = "delegate"
)

func parseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleAdmin, RoleReader, RoleDelegate:
		return r, nil
	}
	return "", fmt.Errorf("role %q is not one of admin, reader, delegate", s)
}

// Key is one preshared bearer key. Only the SHA-256 digest of the secret is kept.
type Key struct {
	// Name identifies the key in logs, metrics and the audit trail (the principal).
	Name string
	Role Role
	// Tenants limits the key to these tenants; empty allows every tenant. A key
	// limited to tenants cannot use the TenantService.
	Tenants []string
	// Digest is the SHA-256 of the secret.
	Digest [sha256.Size]byte
}

// allowsTenant reports whether the key may use a tenant.
func (k *Key) allowsTenant(t string) bool {
	return len(k.Tenants) == 0 || slices.Contains(k.Tenants, t)
}

// NewKey makes a key from its secret.
func NewKey(name string, role Role, tenants []string, secret string) Key {
	return Key{Name: name, Role: role, Tenants: tenants, Digest: sha256.Sum256([]byte(secret))}
}

// ParseKeyFlag reads one --preshared-key value. Two forms are accepted:
//
//	SECRET                          an admin key named "preshared-key-N" (N = index+1)
//	NAME:ROLE[@TENANT,...]:SECRET   e.g. "portal:reader@acme,globex:s3cret"
//
// In the second form the secret is everything after the second colon.
func ParseKeyFlag(value string, index int) (Key, error) {
	parts := strings.SplitN(value, ":", 3)
	switch len(parts) {
	case 1:
		if value == "" {
			return Key{}, fmt.Errorf("preshared key %d is empty", index+1)
		}
		return NewKey(fmt.Sprintf("preshared-key-%d", index+1), RoleAdmin, nil, value), nil
	case 3:
		name, roleSpec, secret := parts[0], parts[1], parts[2]
		roleName, tenantList, _ := strings.Cut(roleSpec, "@")
		role, err := parseRole(roleName)
		if err != nil {
			return Key{}, fmt.Errorf("preshared key %d (%q): %v; the form is NAME:ROLE[@TENANT,...]:SECRET", index+1, name, err)
		}
		var tenants []string
		if tenantList != "" {
			tenants = strings.Split(tenantList, ",")
		}
		k := NewKey(name, role, tenants, secret)
		if err := k.validate(); err != nil {
			return Key{}, fmt.Errorf("preshared key %d: %v", index+1, err)
		}
		if secret == "" {
			return Key{}, fmt.Errorf("preshared key %d (%q) has an empty secret", index+1, name)
		}
		return k, nil
	}
	return Key{}, fmt.Errorf("preshared key %d is neither SECRET nor NAME:ROLE[@TENANT,...]:SECRET (a plain secret may not contain a colon)", index+1)
}

func (k *Key) validate() error {
	if k.Name == "" {
		return fmt.Errorf("a key has no name")
	}
	for _, t := range k.Tenants {
		if err := tuple.ValidateTenantName(t); err != nil {
			return fmt.Errorf("key %q: %v", k.Name, err)
		}
	}
	return nil
}

// keyFile is the key file format (YAML, or JSON, which YAML reads too).
type keyFile struct {
	Keys []struct {
		Name    string   `yaml:"name"`
		Role    string   `yaml:"role"`
		Key     string   `yaml:"key"`
		SHA256  string   `yaml:"sha256"`
		Tenants []string `yaml:"tenants"`
	} `yaml:"keys"`
}

// LoadKeyFile reads preshared keys from a YAML or JSON file:
//
//	keys:
//	  - name: backend          # required; the principal name in logs and audit
//	    role: reader           # admin | reader | delegate
//	    key: "s3cret"          # the secret itself, or:
//	    sha256: "9f86d0..."    # the hex SHA-256 of the secret (the file then holds no secret)
//	    tenants: [acme]        # optional; empty means every tenant
func LoadKeyFile(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	var f keyFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("key file %s: %v", path, err)
	}
	if len(f.Keys) == 0 {
		return nil, fmt.Errorf("key file %s has no keys (expected a top-level \"keys:\" list)", path)
	}
	out := make([]Key, 0, len(f.Keys))
	for i, e := range f.Keys {
		where := fmt.Sprintf("key file %s, key %d", path, i+1)
		role, err := parseRole(e.Role)
		if err != nil {
			return nil, fmt.Errorf("%s (%q): %v", where, e.Name, err)
		}
		k := Key{Name: e.Name, Role: role, Tenants: e.Tenants}
		switch {
		case e.Key != "" && e.SHA256 != "":
			return nil, fmt.Errorf("%s (%q): give either key or sha256, not both", where, e.Name)
		case e.Key != "":
			k.Digest = sha256.Sum256([]byte(e.Key))
		case e.SHA256 != "":
			raw, err := hex.DecodeString(strings.TrimSpace(e.SHA256))
			if err != nil || len(raw) != sha256.Size {
				return nil, fmt.Errorf("%s (%q): sha256 must be 64 hex characters", where, e.Name)
			}
			copy(k.Digest[:], raw)
		default:
			return nil, fmt.Errorf("%s (%q): needs key or sha256", where, e.Name)
		}
		if err := k.validate(); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// ValidateKeys checks that key names and secrets are unique.
func ValidateKeys(keys []Key) error {
	names := map[string]bool{}
	digests := map[[sha256.Size]byte]string{}
	for _, k := range keys {
		if err := k.validate(); err != nil {
			return err
		}
		if names[k.Name] {
			return fmt.Errorf("two keys are named %q", k.Name)
		}
		names[k.Name] = true
		if other, dup := digests[k.Digest]; dup {
			return fmt.Errorf("keys %q and %q have the same secret", other, k.Name)
		}
		digests[k.Digest] = k.Name
	}
	return nil
}

package server

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

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

// ParseRole reads a role name, in any letter case.
func ParseRole(s string) (Role, error) {
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
	// Quota is the key's own request quota; nil means Quotas.Key.
	Quota *Quota
}

// allowsTenant reports whether the key may use a tenant.
func (k *Key) allowsTenant(t string) bool {
	return len(k.Tenants) == 0 || slices.Contains(k.Tenants, t)
}

// NewKey makes a key from its secret.
func NewKey(name string, role Role, tenants []string, secret string) Key {
	return Key{Name: name, Role: role, Tenants: tenants, Digest: sha256.Sum256([]byte(secret))}
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
	if k.Quota != nil {
		return k.Quota.validate(fmt.Sprintf("the quota of key %q", k.Name))
	}
	return nil
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

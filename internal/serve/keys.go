package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pemba-authz/pemba/internal/server"
)

// loadKeys gathers the preshared keys of the --preshared-key values and the key file,
// and checks that their names and secrets are unique. A key file entry's own quota
// takes its absent fields from quota, the --key-* flags' defaults.
func loadKeys(flags []string, keyFile string, quota server.Quota) ([]server.Key, error) {
	var keys []server.Key
	for i, v := range flags {
		k, err := parseKeyFlag(v, i)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if keyFile != "" {
		fileKeys, err := loadKeyFile(keyFile, quota)
		if err != nil {
			return nil, err
		}
		keys = append(keys, fileKeys...)
	}
	if err := server.ValidateKeys(keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// parseKeyFlag reads one --preshared-key value. Two forms are accepted:
//
//	SECRET                          an admin key named "preshared-key-N" (N = index+1)
//	NAME:ROLE[@TENANT,...]:SECRET   e.g. "portal:reader@acme,globex:s3cret"
//
// In the second form the secret is everything after the second colon.
func parseKeyFlag(value string, index int) (server.Key, error) {
	parts := strings.SplitN(value, ":", 3)
	switch len(parts) {
	case 1:
		if value == "" {
			return server.Key{}, fmt.Errorf("preshared key %d is empty", index+1)
		}
		return server.NewKey(fmt.Sprintf("preshared-key-%d", index+1), server.RoleAdmin, nil, value), nil
	case 3:
		name, roleSpec, secret := parts[0], parts[1], parts[2]
		roleName, tenantList, _ := strings.Cut(roleSpec, "@")
		role, err := server.ParseRole(roleName)
		if err != nil {
			return server.Key{}, fmt.Errorf("preshared key %d (%q): %v; the form is NAME:ROLE[@TENANT,...]:SECRET", index+1, name, err)
		}
		var tenants []string
		if tenantList != "" {
			tenants = strings.Split(tenantList, ",")
		}
		k := server.NewKey(name, role, tenants, secret)
		if err := server.ValidateKeys([]server.Key{k}); err != nil {
			return server.Key{}, fmt.Errorf("preshared key %d: %v", index+1, err)
		}
		if secret == "" {
			return server.Key{}, fmt.Errorf("preshared key %d (%q) has an empty secret", index+1, name)
		}
		return k, nil
	}
	return server.Key{}, fmt.Errorf("preshared key %d is neither SECRET nor NAME:ROLE[@TENANT,...]:SECRET (a plain secret may not contain a colon)", index+1)
}

// keyFile is the key file format (YAML, or JSON, which YAML reads too).
type keyFile struct {
	Keys []struct {
		Name    string      `yaml:"name"`
		Role    string      `yaml:"role"`
		Key     string      `yaml:"key"`
		SHA256  string      `yaml:"sha256"`
		Tenants []string    `yaml:"tenants"`
		Quota   *quotaEntry `yaml:"quota"`
	} `yaml:"keys"`
}

// loadKeyFile reads preshared keys from a YAML or JSON file:
//
//	keys:
//	  - name: backend          # required; the principal name in logs and audit
//	    role: reader           # admin | reader | delegate
//	    key: "s3cret"          # the secret itself, or:
//	    sha256: "9f86d0..."    # the hex SHA-256 of the secret (the file then holds no secret)
//	    tenants: [acme]        # optional; empty means every tenant
//	    quota:                 # optional; absent fields take the --key-* flags' values
//	      requests_per_second: 200
//	      burst: 400
//	      max_concurrent: 32
func loadKeyFile(path string, quota server.Quota) ([]server.Key, error) {
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
	out := make([]server.Key, 0, len(f.Keys))
	for i, e := range f.Keys {
		where := fmt.Sprintf("key file %s, key %d", path, i+1)
		role, err := server.ParseRole(e.Role)
		if err != nil {
			return nil, fmt.Errorf("%s (%q): %v", where, e.Name, err)
		}
		k := server.Key{Name: e.Name, Role: role, Tenants: e.Tenants}
		if e.Quota != nil {
			q := e.Quota.over(quota)
			k.Quota = &q
		}
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
		if err := server.ValidateKeys([]server.Key{k}); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		out = append(out, k)
	}
	return out, nil
}

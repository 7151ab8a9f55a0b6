package datastore

import "fmt"

// DefaultTenant is the tenant a request without a tenant name uses. It always exists,
// so single-tenant deployments never need to know about tenants.
const DefaultTenant = "default"

// MaxTenantNameLength is the longest tenant name.
const MaxTenantNameLength = 63

// ValidateTenantName checks a tenant name: 1 to 63 characters of a-z, 0-9, - and _,
// starting with a letter or digit.
func ValidateTenantName(name string) error {
	if name == "" {
		return fmt.Errorf("tenant name is empty: %w", ErrInvalidArgument)
	}
	if len(name) > MaxTenantNameLength {
		return fmt.Errorf("tenant name %q is longer than %d characters: %w", name, MaxTenantNameLength, ErrInvalidArgument)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))
		if !ok {
			return fmt.Errorf("tenant name %q may only contain a-z, 0-9, - and _ and must start with a letter or digit: %w", name, ErrInvalidArgument)
		}
	}
	return nil
}

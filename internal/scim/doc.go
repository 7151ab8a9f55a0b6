// Package scim is Pemba's SCIM 2.0 service provider model (RFC 7643, RFC 7644): the
// connections that bind one customer directory to one organisation of a tenant, their
// bearer tokens, and how they are kept as records in the tenant's store.
//
// A token is shown once, when it is made, and stored only as its SHA-256 digest, which
// is also the record key the token is found by; the digest found is compared again in
// constant time. A token names its tenant in clear ("pscim_TENANT.SECRET"), so the
// server knows which store to look in without a global index; the tenant is not a
// secret, the 32 random bytes are.
package scim

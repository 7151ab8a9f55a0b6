// Package filter parses and evaluates SCIM 2.0 filters (RFC 7644 §3.4.2.2) and PATCH
// paths (§3.5.2).
//
// Pemba writes its own parser rather than using a general one so that every input is
// bounded before it costs anything: a filter longer than Limits.MaxLength, nested
// deeper than Limits.MaxDepth or with more than Limits.MaxTerms comparisons is an
// *Error of type invalidFilter (invalidPath for paths) that names the offset, which the
// SCIM endpoints answer with 400.
package filter

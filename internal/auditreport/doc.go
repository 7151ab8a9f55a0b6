// Package auditreport is the evidence report an auditor reads about one
// organisation: the relationships in force inside its subtree and who wrote each,
// who holds which permission there and along which path, what changed in a period and
// which decisions were logged.
//
// Build computes the report from the store, the engine and the decision log at one
// revision; it runs in the server, so API keys and tenant limits apply to it as to
// every read. Document is its printable form, which the CLI writes as JSON, CSV or a
// self-contained HTML page.
package auditreport

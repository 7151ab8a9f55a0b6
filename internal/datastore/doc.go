// Package datastore defines Pemba's revisioned relationship store: the interfaces every
// store implements (memory, embedded bbolt, PostgreSQL/CockroachDB), the filters they
// answer, revision tokens, transaction metadata and the errors they return.
//
// Every store keeps one independent, totally ordered revision sequence per tenant.
// A write transaction commits at the next revision of its tenant; a reader at revision
// R sees exactly the relationships committed at or before R that had not been deleted
// by R and have not expired by the time of the read.
package datastore

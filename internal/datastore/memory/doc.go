// Package memory is a complete, non-durable datastore kept in process memory. It has
// the same semantics as the durable stores (revisions, snapshots, tenants, watch, audit)
// and is what tests, `pemba validate` and `--datastore memory` demos run on.
package memory

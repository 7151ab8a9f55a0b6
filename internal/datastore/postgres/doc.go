// Package postgres is Pemba's datastore on PostgreSQL and CockroachDB: one
// implementation on pgx (pgxpool), with SQL that both databases accept.
//
// Revisions come from a per-tenant counter row (tenant_heads). Every write
// transaction locks that row first (SELECT ... FOR UPDATE), so a tenant's writers run
// one after another, each takes the next revision, and revisions follow commit order.
// Relationship rows carry the revision that created them and the one that deleted
// them, so a reader at revision R sees exactly the rows with created_rev <= R and
// (deleted_rev IS NULL or deleted_rev > R): a snapshot that later commits cannot
// change. The counter row also keeps the tenant's number of stored relationships
// (relationship_count), moved by each commit and by garbage collection of expired
// rows under the same lock, so a relationship limit is checked without counting. docs/postgres.md gives the full argument under READ COMMITTED and
// SERIALIZABLE, the list of SQL forms used and why CockroachDB accepts each.
//
// A transaction that writes many relationships (Options.BulkWrites, 500 by default;
// an import batch is 5,000) is applied by the bulk path on PostgreSQL: COPY into a
// temporary staging table of the session that empties itself at every commit, then one
// statement that ends the live versions, inserts the new ones and logs the changes and
// their objects (bulk.go). It records exactly what the row path records; the
// conformance suite runs against both. CockroachDB always takes the row path.
//
// Transactions are retried on serialization failures (SQLSTATE 40001) through
// cockroach-go's retry helper, one whole transaction per attempt; a commit whose
// outcome is unknown (the connection broke during COMMIT) is never retried.
//
// The schema is applied by Migrate (`pemba migrate`) from migrations embedded in the
// binary; New refuses a database whose schema version differs from this build's.
package postgres

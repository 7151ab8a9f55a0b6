// Package write is Pemba's write path. Every change to relationships or to a schema goes
// through it: it validates the change against the tenant's schema, checks
// preconditions, authorises delegated writes against the schema's grant rules, records
// who did what and why, and commits it all in one datastore transaction.
//
// Delegated writes are authorised at the snapshot the transaction commits on. The
// datastore serialises a tenant's write transactions and a transaction's snapshot is
// the tenant's current state for as long as it runs, so no revocation of the acting
// subject's rights can commit between the authorisation and the write.
package write

// Package bolt is Pemba's embedded datastore: one go.etcd.io/bbolt file
// (<dir>/pemba.db) that `pemba serve` uses unless told otherwise.
//
// # Durability and locking
//
// Every write transaction is one bbolt write transaction, fsynced before ReadWriteTx
// returns, so an acknowledged write survives a crash and a half-applied transaction is
// never visible. bbolt takes an exclusive flock on the file; a second process opening
// the same directory fails after Options.LockTimeout (default 1s) with "datastore at
// <dir> is in use by another process" instead of waiting or corrupting the file.
//
// # A full disk
//
// A commit that the file system refuses for want of space (ENOSPC, EDQUOT) is rolled
// back by bbolt before its meta page is written, so the file keeps its last good
// state. The error is ErrDiskFull (kind datastore.ErrResourceExhausted); reads go on
// from the file as it is, and commits succeed again as soon as there is space.
//
// # Backup and restore
//
// Backup copies the file from one bbolt read transaction (tx.WriteTo) while writes go
// on: a consistent snapshot of every tenant, as if the process had stopped after the
// last transaction committed before it began. WriteSnapshotFile writes such a copy
// beside its destination, syncs and checks it (CheckFile: bbolt's page check and
// Pemba's metadata) before renaming it into place; Restore installs a backup that way
// as a stopped server's datastore. The copy keeps the store's UniqueID, so tokens
// issued before the backup stay valid against the restored store.
//
// # Transactions
//
// Writers are serialised per tenant by a mutex, so a transaction's snapshot is the
// current state while fn runs. fn reads through short bbolt read transactions (never
// held while the caller's code runs) and buffers its writes in a datastore.WriteSet;
// the commit applies them in a single bbolt write transaction and then publishes the
// new head. Readers never hold a read transaction while yielding: queries read at most
// 512 index entries per read transaction and resume from the next key. This keeps
// bbolt's rule that a read transaction must not be open while a write transaction in
// the same goroutine needs to remap the file, and lets callers write or nest queries
// inside a loop over results.
//
// # Key layout
//
// Every key of the tenant-owned buckets starts with the tenant's 4-byte id (assigned
// from a counter and never reused, so a re-created tenant never sees old rows). Names
// and ids inside keys end with a 0 byte, which no valid name or id contains, so byte
// order is field-by-field string order. Revisions are 8-byte big-endian; times are 12
// bytes (seconds since 1970 with the sign bit flipped, then nanoseconds). The created
// revision that ends a version key takes 5 bytes (a trillion commits per tenant).
//
//	meta     "format" → layout version, "id" → UniqueID, "next_tenant" → next tenant id
//	tenants  name → id, created, head, oldest readable revision, audit count, last commit
//	dropped  tenant id → ∅                  deleted tenants whose rows are still being removed
//	rels     T | rtype rid rel stype sid srel | created → deleted (uvarint, 0 = live) | extras
//	rrels    T | stype sid srel rtype rid rel | created → same value as rels
//	dead     T | deleted | rtype … srel | created → ∅   versions to collect, by deleting revision
//	expiry   T | expires | rtype … srel | created → ∅   versions to collect, by expiry
//	log      T | revision → commit time, metadata, schema flag, changes (the audit trail)
//	times    T | revision → commit time         kept apart from log: audit retention differs
//	schemas  T | revision → schema text
//	counts   T | resource type → live relationships (int64)
//	rpend    sequence → the rrels keys one commit changed   (reverse-index journal)
//	recs     T | kind id | created → deleted (uvarint, 0 = live) | keys | data   (records)
//	reckeys  T | kind key id | created → ∅   one entry per key of each record version
//	recdead  T | deleted | kind id | created → ∅   record versions to collect
//
// extras are a flag byte, the expiry, the caveat name and its context as JSON, and the
// grant of a delegated relationship (grantor type, id, relation; via type, id). Log
// records front-code each change's key against the previous one (changes are in key
// order).
//
// A relationship is stored as versions: the version written at revision C is visible
// to readers at revisions R with C <= R < deleted and, at every revision, only until
// its expiry. rels answers forward queries in tuple.Key order; rrels answers reverse
// queries in subject order. A write marks the live version deleted in both indexes
// and inserts a new one; rewriting an identical relationship writes nothing.
//
// # The reverse index is written behind
//
// Subject ids arrive in random order, so writing rrels directly would dirty one page
// per relationship in every commit. Instead a commit appends the rrels keys it
// changed to the rpend journal (one entry, so a few sequential pages) and adds the
// new values to an in-memory overlay of sorted runs, which reverse queries merge with
// rrels (the overlay is read first, then the file, so a merge in between is never
// missed). When the overlay holds Options.ReverseBuffer entries (default 400,000,
// about 30 MB) they are written into rrels in key-ordered chunks and the journal is
// emptied. rels and the journal are the record: Open rebuilds the journalled rrels
// entries from rels after a crash.
//
// # Garbage collection
//
// GarbageCollect makes the newest revision committed at or before now−GCWindow the
// oldest readable one (older revisions get a TooOld RevisionError), removes the
// versions the dead index lists at or before it and the versions the expiry index
// lists as expired, the record versions recdead lists at or before it, drops schemas
// superseded before it, and, when AuditRetention is set, log records older than the
// retention. Audit records are kept forever by default. Every step runs in bounded batches between writers.
package bolt

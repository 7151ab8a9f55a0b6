// Package index keeps a revision-aware copy of a tenant's relationships in memory, fed
// by the backing store's Watch, and answers the engine's hot queries from it.
//
// The backing store stays the system of record. Store wraps any datastore.Datastore and
// changes only how SnapshotReader reads: a query at a revision the index holds, in a
// shape the index serves (relationships of given resources, relationships of given
// subjects), is answered from memory; anything else — an older revision, a revision the
// index has not applied yet, an export-style scan — goes to the backing store, which
// always gives the same answer. So the index can lag, restart or be rebuilt without
// ever changing an answer, only its speed.
//
// Memory is kept compact: every name and id is interned once, a row is a fixed-size
// struct of interned ids and revisions, and the two indexes hold 4-byte row numbers in
// sorted slices so lookups are binary searches.
package index

package datastore

import (
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// TxMetadata is what a write transaction records about who made it and why. It is
// stored with the transaction and is the audit trail's evidence.
type TxMetadata struct {
	// Principal is the name of the API key that made the request ("" for local tools).
	Principal string
	// Actor is the acting subject of a delegated write: the person or service on whose
	// behalf the write was made and whose rights authorised it.
	Actor *tuple.SubjectRef
	// Reason is the free-text justification the caller gave.
	Reason string
	// Operation names the API operation: "write", "delete", "schema", "import",
	// "offboard", ...
	Operation string
	// Organizations are the organisations the transaction acted through or on: for a
	// delegated write, the objects whose permission authorised each update; for an
	// offboarding, the organisation whose subtree was cleared. The audit trail can be
	// queried by them.
	Organizations []tuple.ObjectRef
	// Grants explains, per authorised update, which grant rule allowed it.
	Grants []GrantRecord
	// Denied is set on the record of a refused delegated write: such a transaction
	// changes nothing and keeps what was attempted and why it was refused, so every
	// attempt, allowed or not, is in the audit trail.
	Denied *Denial
}

// Denial is a refused delegated write.
type Denial struct {
	// Message is the refusal as the caller saw it.
	Message string
	// Updates are the updates that were attempted.
	Updates []Update
}

// GrantRecord says why one update of a delegated write was allowed.
type GrantRecord struct {
	// Relationship is the update's relationship (core part).
	Relationship tuple.Key
	// Rule is the grant rule, as written in the schema ("grant member by manage").
	Rule string
	// Via is the object whose permission satisfied the rule, when the check found one
	// (for example the parent organisation whose admins manage the child).
	Via *tuple.ObjectRef
}

// ChangeKind is what a committed change did.
type ChangeKind int

// Change kinds.
const (
	ChangeCreated ChangeKind = iota + 1 // the relationship did not exist before
	ChangeTouched                       // an existing relationship was rewritten
	ChangeDeleted
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeCreated:
		return "created"
	case ChangeTouched:
		return "touched"
	case ChangeDeleted:
		return "deleted"
	}
	return "unknown"
}

// Change is one relationship change inside a committed transaction. For a deletion the
// relationship is the one that was removed, caveat and expiry included.
type Change struct {
	Kind         ChangeKind
	Relationship tuple.Relationship
}

// Transaction is a committed write transaction: the unit of Watch and of the audit
// trail.
type Transaction struct {
	Revision Revision
	Time     time.Time
	Metadata TxMetadata
	Changes  []Change
	// RecordChanges are the transaction's record writes, in the order it first wrote
	// each record, so watchers learn of governance events (a request filed, approved,
	// withdrawn) in the same feed as the relationships they lead to.
	RecordChanges []RecordChange
	// Schema is the new schema text when the transaction wrote one.
	Schema *string
}

// RecordChange is one record write inside a committed transaction: a put, with the
// record as written, or the deletion of a record that existed (then only Kind and ID
// are set). Deleting a missing record is no change.
type RecordChange struct {
	Deleted bool
	Record  Record
}

// TransactionFilter selects audit records. Zero fields match everything. Results come
// newest first.
type TransactionFilter struct {
	// Principal matches the API key name.
	Principal string
	// Actor matches the acting subject.
	Actor *tuple.SubjectRef
	// Resource matches transactions with a change on this object (ID "" means any
	// object of the type).
	Resource *tuple.ObjectRef
	// Subject matches transactions with a change whose subject is this object.
	Subject *tuple.ObjectRef
	// Organization matches transactions that name the organisation in their metadata
	// or change a relationship on it.
	Organization *tuple.ObjectRef
	// Since and Until bound the commit time: Since <= time < Until.
	Since, Until time.Time
	// Before returns only transactions older than this revision (a page cursor);
	// 0 means from the newest.
	Before Revision
	// Limit is the most transactions to return; 0 means no limit.
	Limit int
}

// Matches reports whether a transaction passes the filter. Stores may use it to filter
// after narrowing by an index.
func (f TransactionFilter) Matches(t *Transaction) bool {
	if f.Before != 0 && t.Revision >= f.Before {
		return false
	}
	if !f.Since.IsZero() && t.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !t.Time.Before(f.Until) {
		return false
	}
	if f.Principal != "" && t.Metadata.Principal != f.Principal {
		return false
	}
	if f.Actor != nil && (t.Metadata.Actor == nil || *t.Metadata.Actor != *f.Actor) {
		return false
	}
	if f.Resource != nil && !anyChange(t, func(r tuple.Relationship) bool { return objectMatches(*f.Resource, r.Resource) }) {
		return false
	}
	if f.Subject != nil && !anyChange(t, func(r tuple.Relationship) bool { return objectMatches(*f.Subject, r.Subject.Object()) }) {
		return false
	}
	if f.Organization != nil {
		named := false
		for _, o := range t.Metadata.Organizations {
			if objectMatches(*f.Organization, o) {
				named = true
				break
			}
		}
		if !named && !anyChange(t, func(r tuple.Relationship) bool { return objectMatches(*f.Organization, r.Resource) }) {
			return false
		}
	}
	return true
}

func objectMatches(want, got tuple.ObjectRef) bool {
	return want.Type == got.Type && (want.ID == "" || want.ID == got.ID)
}

// anyChange reports whether a change of the transaction, or an update a denied
// transaction attempted, satisfies pred.
func anyChange(t *Transaction, pred func(tuple.Relationship) bool) bool {
	for _, c := range t.Changes {
		if pred(c.Relationship) {
			return true
		}
	}
	if t.Metadata.Denied != nil {
		for _, u := range t.Metadata.Denied.Updates {
			if pred(u.Relationship) {
				return true
			}
		}
	}
	return false
}

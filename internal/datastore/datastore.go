package datastore

import (
	"context"
	"iter"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Revision is a position in one tenant's history. Revision 0 is the empty tenant before
// its first write; every committed write transaction takes the next revision.
type Revision uint64

// Datastore is the system of record for relationships, schemas and the audit trail.
// Implementations are safe for concurrent use.
type Datastore interface {
	// UniqueID identifies this store's data for its whole life (it survives restarts);
	// revision tokens carry it, so a token minted by another store is refused.
	UniqueID() string

	// CreateTenant creates an empty tenant. The tenant tuple.DefaultTenant always exists.
	CreateTenant(ctx context.Context, name string) error
	// DeleteTenant removes a tenant and every row it owns: relationships, schemas and
	// audit records.
	DeleteTenant(ctx context.Context, name string) error
	// ListTenants lists the tenants, ordered by name.
	ListTenants(ctx context.Context) ([]TenantInfo, error)

	// HeadRevision returns the tenant's newest committed revision.
	HeadRevision(ctx context.Context, tenant string) (Revision, error)
	// OptimizedRevision returns a recent revision that many callers share, so result
	// caches keyed by revision are hit. It is never older than the configured
	// quantisation window.
	OptimizedRevision(ctx context.Context, tenant string) (Revision, error)
	// CheckRevision returns nil when rev can still be read in the tenant, a
	// *RevisionError when it was garbage-collected or is newer than the head.
	CheckRevision(ctx context.Context, tenant string, rev Revision) error

	// SnapshotReader reads the tenant at revision rev. It does not check the revision;
	// call CheckRevision first for revisions that came from a client.
	SnapshotReader(tenant string, rev Revision) Reader

	// ReadWriteTx runs fn in a transaction of the tenant and commits it at the next
	// revision, which it returns. While fn runs no other transaction of the tenant
	// commits, so tx.Snapshot() is the current state. If fn returns an error nothing is
	// written. fn may be called more than once when a store retries a transaction, so
	// it must not have side effects outside tx. A transaction that writes nothing still
	// commits a revision, so it is recorded in the audit trail.
	ReadWriteTx(ctx context.Context, tenant string, meta TxMetadata, fn func(ctx context.Context, tx ReadWriteTx) error) (Revision, error)

	// Watch yields the tenant's committed transactions after revision after, in
	// revision order, and then waits for new ones until ctx ends or the consumer stops.
	// It ends with an error when after is no longer in the store's history.
	Watch(ctx context.Context, tenant string, after Revision) iter.Seq2[*Transaction, error]

	// ReadTransactions yields the tenant's audit trail matching the filter, newest first.
	ReadTransactions(ctx context.Context, tenant string, filter TransactionFilter) iter.Seq2[*Transaction, error]

	// Statistics reports the tenant's size at its head revision.
	Statistics(ctx context.Context, tenant string) (Stats, error)

	// GarbageCollect removes what no readable revision can see any more: relationship
	// versions deleted before the GC window, and audit records beyond their retention.
	GarbageCollect(ctx context.Context) (GCStats, error)

	// Close releases the store. Transactions in progress finish first.
	Close() error
}

// Reader reads one tenant at one revision. Expired relationships are never returned.
// Results come in a stable order so cursors can resume them: QueryRelationships in
// tuple.Key order, ReverseQueryRelationships by subject and then by key.
type Reader interface {
	// Revision is the revision this reader reads at.
	Revision() Revision
	// QueryRelationships yields the relationships matching filter.
	QueryRelationships(ctx context.Context, filter RelationshipFilter, opts QueryOptions) iter.Seq2[tuple.Relationship, error]
	// ReverseQueryRelationships yields the relationships whose subject matches subjects,
	// optionally restricted to one resource type and relation. This is the direction
	// lookups walk.
	ReverseQueryRelationships(ctx context.Context, subjects SubjectFilter, opts ReverseQueryOptions) iter.Seq2[tuple.Relationship, error]
	// ReadSchema returns the newest schema written at or before the reader's revision,
	// or an error satisfying errors.Is(err, ErrSchemaNotFound).
	ReadSchema(ctx context.Context) (StoredSchema, error)
	// ReadRecord returns the record of kind with id as it was at the reader's
	// revision, or an error satisfying errors.Is(err, ErrRecordNotFound).
	ReadRecord(ctx context.Context, kind, id string) (Record, error)
	// ListRecords yields the records of kind matching q at the reader's revision, in
	// ID order. A query out of bounds fails with ErrInvalidArgument.
	ListRecords(ctx context.Context, kind string, q RecordQuery) iter.Seq2[Record, error]
}

// ReadWriteTx is an open write transaction of one tenant.
type ReadWriteTx interface {
	// Revision is the revision the transaction will commit at.
	Revision() Revision
	// Snapshot reads the committed state the transaction builds on (Revision()-1).
	// The transaction's own writes are not visible through it.
	Snapshot() Reader
	// WriteRelationships applies updates in order. Create fails with a
	// *RelationshipExistsError when a live relationship with the same key exists,
	// Touch creates or replaces, Delete removes and is a no-op for a missing key.
	WriteRelationships(ctx context.Context, updates []Update) error
	// DeleteRelationships deletes up to limit relationships matching filter (limit 0
	// means all) and returns them, with more set when further ones match.
	DeleteRelationships(ctx context.Context, filter RelationshipFilter, limit int) (deleted []tuple.Relationship, more bool, err error)
	// WriteSchema stores a new schema text for the tenant. The caller has compiled it
	// and checked that no stored relationship is orphaned.
	WriteSchema(ctx context.Context, text string) error
	// SetMetadata replaces the metadata the transaction will be recorded with. The
	// write path uses it to record what it learnt while the transaction ran (which
	// grant rules and organisations authorised a delegated write).
	SetMetadata(meta TxMetadata)
	// LimitRelationships makes the commit refuse, with a *RelationshipLimitError and
	// nothing written, a transaction that would grow the tenant beyond max stored
	// relationships; 0, the default, sets no limit. A transaction that does not add
	// relationships always commits, so a tenant above a lowered limit can shrink.
	// Stored relationships are the live ones, expired ones included until garbage
	// collection removes them. The store counts them exactly at commit, where the
	// tenant's writers are serialised, so concurrent writers cannot overshoot.
	LimitRelationships(max int64)
	// PutRecord creates or replaces a record at the transaction's revision. A record
	// out of bounds (see ValidateRecord) fails with ErrInvalidArgument and is not
	// written; the transaction can go on.
	PutRecord(ctx context.Context, r Record) error
	// DeleteRecord deletes a record at the transaction's revision; deleting a
	// missing record is a no-op.
	DeleteRecord(ctx context.Context, kind, id string) error
}

// Operation is what an Update does.
type Operation int

// Operations, in the order the text form names them.
const (
	OpCreate Operation = iota + 1
	OpTouch
	OpDelete
)

func (o Operation) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpTouch:
		return "touch"
	case OpDelete:
		return "delete"
	}
	return "unknown"
}

// Update is one change to a relationship.
type Update struct {
	Op           Operation
	Relationship tuple.Relationship
}

// StoredSchema is a schema text and the revision it was written at.
type StoredSchema struct {
	Text     string
	Revision Revision
}

// QueryOptions bound a forward query.
type QueryOptions struct {
	// Limit is the most relationships to return; 0 means no limit.
	Limit int
	// After resumes a previous query: only relationships ordered strictly after this
	// key are returned.
	After *tuple.Key
}

// ReverseQueryOptions bound and narrow a reverse query.
type ReverseQueryOptions struct {
	// ResourceType, when set, keeps relationships on that resource type only.
	ResourceType string
	// Relation, when set, keeps relationships of that relation only.
	Relation string
	// Limit is the most relationships to return; 0 means no limit.
	Limit int
	// After resumes a previous reverse query (see ReverseLess for the order).
	After *tuple.Key
}

// TenantInfo describes one tenant.
type TenantInfo struct {
	Name      string
	CreatedAt time.Time
}

// Stats describes a tenant's size at its head revision.
type Stats struct {
	Revision      Revision
	Relationships int64
	// ByResourceType counts live relationships per resource type.
	ByResourceType map[string]int64
	Transactions   int64
}

// GCStats reports what one garbage collection removed.
type GCStats struct {
	Relationships int64 // dead relationship versions removed
	Transactions  int64 // audit records removed
	Schemas       int64 // superseded schema versions removed
	Records       int64 // record versions deleted before the horizon, removed
}

// Options common to every store. The zero value means the documented defaults.
type Options struct {
	// GCWindow is how long a revision stays readable after it was superseded.
	// Default 24h.
	GCWindow time.Duration
	// QuantizationWindow bounds how stale OptimizedRevision may be. Default 5s.
	QuantizationWindow time.Duration
	// AuditRetention is how long audit records are kept; 0 keeps them forever.
	AuditRetention time.Duration
	// Now is the clock used for expiry and timestamps. Default time.Now.
	Now func() time.Time
}

// Defaults for Options.
const (
	DefaultGCWindow           = 24 * time.Hour
	DefaultQuantizationWindow = 5 * time.Second
)

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.GCWindow == 0 {
		o.GCWindow = DefaultGCWindow
	}
	if o.QuantizationWindow == 0 {
		o.QuantizationWindow = DefaultQuantizationWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

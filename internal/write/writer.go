package write

import (
	"context"
	"slices"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Checker is what the write path needs from the engine: compiled schemas and checks at
// a revision. *engine.Engine implements it.
type Checker interface {
	Schema(ctx context.Context, tenant string, rev datastore.Revision) (*schema.Schema, error)
	Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error)
}

// Config bounds the write path. The zero value means the documented defaults.
type Config struct {
	// MaxUpdates is the most updates one write may carry, and MaxPreconditions the
	// most preconditions; zero means no bound. Limits are configured in one place, the
	// server's (server.Limits), which passes these down.
	MaxUpdates       int
	MaxPreconditions int
	// ImportBatchSize is how many relationships an import commits per transaction.
	// Default 5000.
	ImportBatchSize int
	// MaxRelationships returns the most relationships a tenant may store; 0, or a nil
	// func, is no limit. Writes and import batches that would grow a tenant beyond it
	// fail with a *datastore.RelationshipLimitError and write nothing: the store
	// checks it as it commits (datastore.ReadWriteTx.LimitRelationships), so
	// concurrent writers cannot overshoot. The server's quotas pass it down.
	MaxRelationships func(tenant string) int64
	// Now is the clock for grant lifetimes. Default time.Now.
	Now func() time.Time
	// RequestTTL is how long an access request stays pending before it expires.
	// Default DefaultRequestTTL (7 days).
	RequestTTL time.Duration
}

// DefaultImportBatchSize is Config.ImportBatchSize's default.
const DefaultImportBatchSize = 5000

func (c Config) withDefaults() Config {
	if c.ImportBatchSize == 0 {
		c.ImportBatchSize = DefaultImportBatchSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RequestTTL <= 0 {
		c.RequestTTL = DefaultRequestTTL
	}
	return c
}

// Writer applies changes. It is safe for concurrent use.
type Writer struct {
	ds  datastore.Datastore
	eng Checker
	cfg Config
}

// New returns a Writer over a store, checking with eng.
func New(ds datastore.Datastore, eng Checker, cfg Config) *Writer {
	return &Writer{ds: ds, eng: eng, cfg: cfg.withDefaults()}
}

// limitRelationships applies the tenant's relationship limit to a transaction that
// may add relationships.
func (w *Writer) limitRelationships(tx datastore.ReadWriteTx, tenant string) {
	if w.cfg.MaxRelationships != nil {
		tx.LimitRelationships(w.cfg.MaxRelationships(tenant))
	}
}

// Request says who asks for a change and why.
type Request struct {
	// Tenant is the tenant written. It is required: the server resolves an absent
	// tenant to tuple.DefaultTenant at its edge, and the write path refuses an empty one.
	Tenant string
	// Principal is the name of the API key that made the request.
	Principal string
	// Actor is the acting subject of a delegated write; when set every update must be
	// allowed by the schema's grant rules for this subject.
	Actor *tuple.SubjectRef
	// Reason is the caller's justification, kept in the audit trail.
	Reason string
}

// tenant returns the request's tenant, or an error when it names none.
func (r Request) tenant() (string, error) {
	if r.Tenant == "" {
		return "", invalidf("tenant is empty: name the tenant (tuple.DefaultTenant for the default one)")
	}
	return r.Tenant, nil
}

func (r Request) metadata(op string) txMeta {
	return txMeta{Principal: r.Principal, Actor: r.Actor, Reason: r.Reason, Operation: op}
}

// begin resolves what a change of relationships needs before its transaction: the
// tenant, and the audit metadata with the acting subject as one concrete object. An
// actor that cannot act is refused; the metadata is still returned, so the refusal
// can be recorded.
func (r Request) begin(op string) (string, txMeta, error) {
	tenant, err := r.tenant()
	if err != nil {
		return "", txMeta{}, err
	}
	meta := r.metadata(op)
	meta.Actor, err = checkActor(r.Actor)
	return tenant, meta, err
}

// txMeta is datastore.TxMetadata with the write path's helpers.
type txMeta datastore.TxMetadata

// withGrants returns the metadata with the grant records of a delegated write and the
// organisations they went through.
func (m txMeta) withGrants(grants []datastore.GrantRecord) datastore.TxMetadata {
	out := datastore.TxMetadata(m)
	out.Grants = grants
	out.Organizations = slices.Clone(m.Organizations)
	seen := map[tuple.ObjectRef]bool{}
	for _, o := range out.Organizations {
		seen[o] = true
	}
	for _, g := range grants {
		if g.Via != nil && !seen[*g.Via] {
			seen[*g.Via] = true
			out.Organizations = append(out.Organizations, *g.Via)
		}
	}
	return out
}

// Precondition must hold at the write's snapshot or the write fails.
type Precondition struct {
	// MustMatch requires at least one relationship to match Filter; otherwise none
	// may match.
	MustMatch bool
	Filter    datastore.RelationshipFilter
}

// checkPreconditions evaluates preconditions against the transaction's snapshot.
func checkPreconditions(ctx context.Context, snap datastore.Reader, pre []Precondition) error {
	for i, p := range pre {
		var found *tuple.Relationship
		for rel, err := range snap.QueryRelationships(ctx, p.Filter, datastore.QueryOptions{Limit: 1}) {
			if err != nil {
				return err
			}
			found = &rel
		}
		switch {
		case p.MustMatch && found == nil:
			return &PreconditionError{Index: i, MustMatch: true, Filter: p.Filter}
		case !p.MustMatch && found != nil:
			return &PreconditionError{Index: i, MustMatch: false, Filter: p.Filter, Found: found}
		}
	}
	return nil
}

func validatePreconditions(pre []Precondition, max int) error {
	if max > 0 && len(pre) > max {
		return &LimitError{Limit: "preconditions per write", Max: max, Got: len(pre)}
	}
	for i, p := range pre {
		if err := p.Filter.Validate(); err != nil {
			return invalidf("precondition %d: filter.%v", i, err)
		}
	}
	return nil
}

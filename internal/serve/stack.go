package serve

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/index"
	"github.com/pemba-authz/pemba/internal/decisionlog"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/write"
)

// Stack is Pemba's serving core over one store, wired in the one direction requests
// flow: server → engine and write path → (index →) store.
type Stack struct {
	// Store is what the engine and the write path read: the index when one wraps the
	// store, the store itself otherwise.
	Store datastore.Datastore
	// Index is the in-memory relationship index, or nil.
	Index    *index.Store
	Engine   *engine.Engine
	Writer   *write.Writer
	Reviewer *governance.Reviewer
	// Sweeper deletes delegated grants whose conditions ended.
	Sweeper *GrantSweeper
	// Server serves the API; call Start to listen.
	Server *server.Server
	// DecisionLog records decisions when it is on, else nil; the loops run its
	// writer.
	DecisionLog *decisionlog.Log
}

// StackOptions say how to build a Stack.
type StackOptions struct {
	// Index wraps the store in the in-memory relationship index.
	Index bool
	// Engine configures the engine. Its MaxContextualRelationships and MaxLookupWork
	// are taken from Server.Limits.
	Engine engine.Config
	// RequestTTL is how long an access request stays pending; zero means
	// write.DefaultRequestTTL.
	RequestTTL time.Duration
	// Server configures the server. NewStack fills in Datastore, Engine, Writer and
	// Reviewer where they are nil, Backup when the store can copy itself, and registers the engine's and the index's metrics
	// on its Registry.
	Server server.Config
	// DecisionLog, when Enabled, records decisions into ds (which must be a
	// datastore.DecisionStore); the stack's loops run its writer.
	DecisionLog decisionlog.Config
}

// NewStack builds the whole stack over ds, with the server's limits and quotas passed
// down to the engine and the write path. It does not listen: call s.Server.Start, and Close once
// the server has shut down.
func NewStack(ds datastore.Datastore, opts StackOptions) (*Stack, error) {
	log := opts.Server.Logger
	if log == nil {
		log = slog.Default()
	}
	limits := opts.Server.Limits.WithDefaults()
	st := &Stack{Store: ds}
	var collectors []prometheus.Collector
	if opts.Index {
		st.Index = index.New(ds, index.Options{Logger: log})
		st.Store = st.Index
		collectors = append(collectors, st.Index.Collector())
	}
	ecfg := opts.Engine
	ecfg.MaxContextualRelationships = limits.MaxContextualRelationships
	ecfg.MaxLookupWork = limits.MaxLookupWork
	st.Engine = engine.New(st.Store, ecfg)
	collectors = append(collectors, st.Engine.Collector())
	quotas := opts.Server.Quotas
	st.Writer = write.New(st.Store, st.Engine, write.Config{
		MaxUpdates:       limits.MaxUpdatesPerWrite,
		MaxPreconditions: limits.MaxPreconditions,
		MaxRelationships: func(tenant string) int64 { return quotas.ForTenant(tenant).MaxRelationships },
		Now:              ecfg.Now,
		RequestTTL:       opts.RequestTTL,
	})
	st.Reviewer = governance.New(st.Store, st.Engine, ecfg.Now)
	st.Sweeper = NewGrantSweeper(st.Store, st.Engine, st.Writer)
	collectors = append(collectors, st.Sweeper.Collector())

	scfg := opts.Server
	scfg.Limits = limits
	if scfg.Datastore == nil {
		scfg.Datastore = st.Store
	}
	if scfg.Engine == nil {
		scfg.Engine = st.Engine
	}
	if scfg.Writer == nil {
		scfg.Writer = st.Writer
	}
	if scfg.Reviewer == nil {
		scfg.Reviewer = st.Reviewer
	}
	if b, ok := ds.(server.Backuper); ok && scfg.Backup == nil {
		// The backing store, not the index: the index holds no file to copy.
		scfg.Backup = b
	}
	if e, ok := ds.(datastore.SubjectEraser); ok && scfg.Eraser == nil {
		// The backing store: erasure rewrites the audit trail, which the index does
		// not hold.
		scfg.Eraser = e
	}
	scfg.Collectors = append(scfg.Collectors, collectors...)
	if opts.DecisionLog.Enabled {
		dstore, ok := ds.(datastore.DecisionStore)
		if !ok {
			return nil, fmt.Errorf("--decision-log: this datastore (%T) cannot keep a decision log; use bolt, postgres or memory", ds)
		}
		l, err := decisionlog.New(opts.DecisionLog, dstore, log)
		if err != nil {
			return nil, err
		}
		st.DecisionLog, scfg.DecisionLog = l, l
	}
	srv, err := server.New(scfg)
	if err != nil {
		return nil, err
	}
	st.Server = srv
	return st, nil
}

// Close closes the store, through the index when there is one. Call it after the
// server has shut down.
func (s *Stack) Close() error { return s.Store.Close() }

package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

// Bounds of one sweep pass, over all tenants: how many delegated relationships it
// examines and how many it deletes. What is left waits for the next pass; the grants
// it leaves behind already do not count (the engine evaluates their conditions).
const (
	maxSweepExamined = 20000
	maxSweepDeleted  = 1000
)

// SweepPrincipal is the principal the grant sweeper's deletions are recorded under.
const SweepPrincipal = "grant-sweeper"

// GrantSweeper deletes delegated grants whose `while` conditions no longer hold at a
// tenant's head revision, each in its own transaction whose audit reason names the
// cause. The engine already ignores such grants; the sweeper keeps the store (and
// what ReadRelationships shows) in line with what counts.
type GrantSweeper struct {
	store  datastore.Datastore
	engine *engine.Engine
	writer *write.Writer
	swept  prometheus.Counter
}

// NewGrantSweeper returns a sweeper over the stack's store, engine and write path.
func NewGrantSweeper(ds datastore.Datastore, e *engine.Engine, w *write.Writer) *GrantSweeper {
	return &GrantSweeper{store: ds, engine: e, writer: w, swept: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pemba_grants_swept_total",
		Help: "Delegated grants the grant sweeper deleted because a condition they depend on ended.",
	})}
}

// Collector returns the sweeper's metrics.
func (s *GrantSweeper) Collector() prometheus.Collector { return s.swept }

// Pass sweeps every tenant once, within the pass bounds, and returns how many grants
// it deleted.
func (s *GrantSweeper) Pass(ctx context.Context) (int, error) {
	tenants, err := s.store.ListTenants(ctx)
	if err != nil {
		return 0, err
	}
	b := &sweepBudget{examined: maxSweepExamined, deleted: maxSweepDeleted}
	total := 0
	for _, t := range tenants {
		n, err := s.sweepTenant(ctx, t.Name, b)
		total += n
		if err != nil {
			return total, fmt.Errorf("tenant %s: %w", t.Name, err)
		}
		if b.spent() {
			break
		}
	}
	return total, nil
}

type sweepBudget struct{ examined, deleted int }

func (b *sweepBudget) spent() bool { return b.examined <= 0 || b.deleted <= 0 }

// sweepTenant sweeps the relations of one tenant whose grant rules have conditions.
func (s *GrantSweeper) sweepTenant(ctx context.Context, tenant string, b *sweepBudget) (int, error) {
	head, err := s.store.HeadRevision(ctx, tenant)
	if err != nil {
		return 0, err
	}
	// The engine keeps each tenant's compiled schema and compiles again only when a
	// new schema was written, so a pass costs no compilation.
	sch, err := s.engine.Schema(ctx, tenant, head)
	if errors.Is(err, datastore.ErrSchemaNotFound) {
		return 0, nil // no schema, no rules
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, dn := range sch.DefinitionNames() {
		for _, rule := range sch.Definitions[dn].Grants {
			if len(rule.Dependencies) == 0 {
				continue
			}
			for _, rel := range rule.Relations {
				k, err := s.sweepRelation(ctx, tenant, head, dn, rel, rule, b)
				n += k
				if err != nil || b.spent() {
					return n, err
				}
			}
		}
	}
	return n, nil
}

// sweepRelation examines the delegated relationships of typ#rel at head and deletes
// those a condition of rule no longer holds for.
func (s *GrantSweeper) sweepRelation(ctx context.Context, tenant string, head datastore.Revision, typ, rel string, rule *schema.GrantRule, b *sweepBudget) (int, error) {
	var ended []tuple.Relationship
	var causes []string
	f := datastore.RelationshipFilter{ResourceType: typ, Relation: rel}
	for r, err := range s.store.SnapshotReader(tenant, head).QueryRelationships(ctx, f, datastore.QueryOptions{}) {
		if err != nil {
			return 0, err
		}
		if r.Granted == nil {
			continue
		}
		b.examined--
		cause, err := s.endedBy(ctx, tenant, head, r, rule)
		if err != nil {
			return 0, err
		}
		if cause != "" && len(ended) < b.deleted {
			ended = append(ended, r)
			causes = append(causes, cause)
		}
		if b.examined <= 0 {
			break
		}
	}
	n := 0
	for i, r := range ended {
		// The delete re-reads the grant and its conditions at the snapshot it commits
		// on, so a grant re-made or counting again since head is left alone.
		req := write.Request{Tenant: tenant, Principal: SweepPrincipal, Reason: causes[i]}
		_, deleted, err := s.writer.DeleteEndedGrant(ctx, req, r, func(ctx context.Context, rev datastore.Revision) (string, error) {
			return s.endedBy(ctx, tenant, rev, r, rule)
		})
		if err != nil {
			return n, err
		}
		if deleted {
			n++
			b.deleted--
			s.swept.Inc()
		}
	}
	return n, nil
}

// endedBy returns why grant r no longer counts at head, naming the first condition
// of rule that does not hold there, or "" when all hold (or one is only
// conditional: its caveat may yet allow it). The revision named is the one the
// sweeper found the condition ended at (the snapshot its delete commits on), not
// necessarily the revision of the change that ended it.
func (s *GrantSweeper) endedBy(ctx context.Context, tenant string, head datastore.Revision, r tuple.Relationship, rule *schema.GrantRule) (string, error) {
	for _, dep := range rule.Dependencies {
		var req engine.CheckRequest
		switch dep.Kind {
		case schema.GranteeIn:
			if r.Granted.Via.Type != dep.Type {
				return fmt.Sprintf("grantee %s was granted through %s, not a %s, so it is not in %s#%s (observed at revision %d)",
					r.Subject, r.Granted.Via, dep.Type, dep.Type, dep.Relation, head), nil
			}
			req = engine.CheckRequest{Resource: r.Granted.Via, Permission: dep.Relation, Subject: r.Subject}
		default:
			req = engine.CheckRequest{Resource: r.Resource, Permission: rule.Permission, Subject: r.Granted.By}
		}
		req.Tenant, req.Revision = tenant, head
		res, err := s.engine.Check(ctx, req)
		if err != nil {
			return "", err
		}
		if res.Permissionship != engine.NoPermission {
			continue
		}
		if dep.Kind == schema.GranteeIn {
			return fmt.Sprintf("grantee %s left %s#%s at revision %d", r.Subject, r.Granted.Via, dep.Relation, head), nil
		}
		return fmt.Sprintf("grantor %s lost the right to grant %s#%s (%s) at revision %d", r.Granted.By, r.Resource, r.Relation, rule.Text, head), nil
	}
	return "", nil
}

// sweepGrants runs a sweep pass every interval until ctx ends.
func sweepGrants(ctx context.Context, s *GrantSweeper, every time.Duration, log *slog.Logger) {
	repeat(ctx, every, false, func() {
		n, err := s.Pass(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("grant sweep failed", "error", err, "swept", n)
			}
			return
		}
		if n > 0 {
			log.Info("grant sweep", "swept", n)
		}
	})
}

package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// Retention is the retention per record kind beyond the two every store applies on
// its own (audit transactions after Config.AuditRetention, at garbage collection;
// decisions after DecisionLog.Retention, in the decision log's writer). The retention
// loop applies it every Interval.
type Retention struct {
	// Interval is how often the loop runs; zero turns it off. Default 10 minutes.
	Interval time.Duration
	// Refusals is how long a refused write keeps what was attempted; after it the
	// record keeps its place, time, key and reason and says only that a write was
	// refused (see datastore.RedactRefusal). Zero keeps the details.
	Refusals time.Duration
	// DeniedDecisions is how long denied decisions are kept, when it should differ
	// from the decision log's retention (shorter to bound the volume of probes, for
	// example). Zero leaves them to the decision log's retention.
	DeniedDecisions time.Duration
}

// DefaultRetentionInterval is how often the retention loop runs.
const DefaultRetentionInterval = 10 * time.Minute

// Erasure configures EraseSubject: the secret that keys pseudonyms comes from
// SecretFile, or else from Secret (a flag or PEMBA_ERASURE_SECRET). Neither set
// leaves erasure off.
type Erasure struct {
	Secret     string
	SecretFile string
}

// minErasureSecret is the shortest secret accepted: a short one could be guessed and
// the pseudonyms of known subjects recomputed.
const minErasureSecret = 16

// secret reads the erasure secret; nil when erasure is off. The error never
// contains the secret.
func (e Erasure) secret() ([]byte, error) {
	s := e.Secret
	if e.SecretFile != "" {
		b, err := os.ReadFile(e.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("--erasure-secret-file: %w", err)
		}
		s = strings.TrimSpace(string(b))
	}
	if s == "" {
		if e.SecretFile != "" {
			return nil, fmt.Errorf("--erasure-secret-file %s is empty", e.SecretFile)
		}
		return nil, nil
	}
	if len(s) < minErasureSecret {
		return nil, fmt.Errorf("the erasure secret is %d bytes; give at least %d (for example: openssl rand -hex 32)", len(s), minErasureSecret)
	}
	return []byte(s), nil
}

// validate checks the retention settings.
func (r Retention) validate() error {
	switch {
	case r.Interval < 0:
		return fmt.Errorf("--retention-interval %s is negative", r.Interval)
	case r.Refusals < 0:
		return fmt.Errorf("--audit-refusal-retention %s is negative", r.Refusals)
	case r.DeniedDecisions < 0:
		return fmt.Errorf("--decision-log-denied-retention %s is negative", r.DeniedDecisions)
	}
	return nil
}

// applyRetention runs one pass of the retention over every tenant and returns what
// it removed. A store that cannot apply a kind is skipped for it.
func applyRetention(ctx context.Context, ds datastore.Datastore, r Retention, now time.Time) (refusals, decisions int, err error) {
	if red, ok := ds.(datastore.RefusalRedactor); ok && r.Refusals > 0 {
		tenants, err := ds.ListTenants(ctx)
		if err != nil {
			return 0, 0, err
		}
		for _, t := range tenants {
			n, err := red.RedactRefusalsBefore(ctx, t.Name, now.Add(-r.Refusals))
			if err != nil {
				return refusals, 0, fmt.Errorf("refusal retention in tenant %s: %w", t.Name, err)
			}
			refusals += n
		}
	}
	if ret, ok := ds.(datastore.DecisionRetainer); ok && r.DeniedDecisions > 0 {
		if decisions, err = ret.DeleteDecisionsWithResultBefore(ctx, "denied", now.Add(-r.DeniedDecisions)); err != nil {
			return refusals, 0, fmt.Errorf("denied decision retention: %w", err)
		}
	}
	return refusals, decisions, nil
}

// keepRetention applies the retention every interval until ctx ends.
func keepRetention(ctx context.Context, ds datastore.Datastore, r Retention, log *slog.Logger) {
	repeat(ctx, r.Interval, true, func() {
		refusals, decisions, err := applyRetention(ctx, ds, r, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("retention", "error", err)
		case refusals > 0 || decisions > 0:
			log.Info("retention applied", "refusals_redacted", refusals, "denied_decisions_deleted", decisions)
		}
	})
}

package decisionlog

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// Config configures the decision log. The zero value logs nothing: Enabled is off.
type Config struct {
	// Enabled turns the decision log on.
	Enabled bool
	// SampleRate is the fraction (0..1) of allowed and conditional decisions kept.
	SampleRate float64
	// DeniedSampleRate is the fraction (0..1) of denied decisions kept; keeping them
	// all (1) while sampling the rest keeps every refusal as evidence.
	DeniedSampleRate float64
	// Tenants, ResourceTypes, Permissions and Results, when not empty, keep only
	// decisions whose tenant, resource type, permission or result is listed.
	Tenants, ResourceTypes, Permissions, Results []string
	// QueueSize bounds the decisions waiting for the writer; beyond it they are
	// dropped. Default 10000.
	QueueSize int
	// BatchSize is the most decisions written in one store transaction. Default 500.
	BatchSize int
	// FlushInterval is the longest a decision waits in a partial batch. Default 1s.
	FlushInterval time.Duration
	// Retention is how long decisions are kept. Default 720h (30 days).
	Retention time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultQueueSize     = 10000
	DefaultBatchSize     = 500
	DefaultFlushInterval = time.Second
	DefaultRetention     = 720 * time.Hour
)

// Results a decision can have.
var validResults = []string{"allowed", "denied", "conditional"}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks the rates and the result filter.
func (c Config) Validate() error {
	if c.SampleRate < 0 || c.SampleRate > 1 {
		return fmt.Errorf("--decision-log-sample %v: give a fraction between 0 and 1", c.SampleRate)
	}
	if c.DeniedSampleRate < 0 || c.DeniedSampleRate > 1 {
		return fmt.Errorf("--decision-log-denied-sample %v: give a fraction between 0 and 1", c.DeniedSampleRate)
	}
	for _, r := range c.Results {
		if !slices.Contains(validResults, r) {
			return fmt.Errorf("--decision-log-results %q: use allowed, denied or conditional", r)
		}
	}
	return nil
}

// Log is a running decision log.
type Log struct {
	cfg     Config
	store   datastore.DecisionStore
	queue   chan datastore.Decision
	flushes chan chan struct{}
	log     *slog.Logger
	dropped prometheus.Counter
	written prometheus.Counter
	failed  prometheus.Counter
	deleted prometheus.Counter
}

// New returns a decision log writing into store. Call Run to start its writer.
func New(cfg Config, store datastore.DecisionStore, log *slog.Logger) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	return &Log{
		cfg:     cfg,
		store:   store,
		queue:   make(chan datastore.Decision, cfg.QueueSize),
		flushes: make(chan chan struct{}),
		log:     log,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pemba_decision_log_dropped_total",
			Help: "Decisions the decision log dropped because its queue was full (the writer could not keep up).",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pemba_decision_log_written_total",
			Help: "Decisions the decision log wrote to the store.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pemba_decision_log_write_failures_total",
			Help: "Decisions lost because the store refused the batch that carried them.",
		}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pemba_decision_log_expired_total",
			Help: "Decisions deleted after the retention.",
		}),
	}, nil
}

// Store is the store the log writes to, which ReadDecisions reads.
func (l *Log) Store() datastore.DecisionStore { return l.store }

// Collectors are the log's metrics.
func (l *Log) Collectors() []prometheus.Collector {
	return []prometheus.Collector{l.dropped, l.written, l.failed, l.deleted}
}

// Wants reports whether a decision with these fields passes the filters and the
// sampling. The server asks before it builds the record, so a filtered-out decision
// costs nothing more.
func (l *Log) Wants(tenant, resourceType, permission, result string) bool {
	c := &l.cfg
	if len(c.Tenants) > 0 && !slices.Contains(c.Tenants, tenant) {
		return false
	}
	if len(c.ResourceTypes) > 0 && !slices.Contains(c.ResourceTypes, resourceType) {
		return false
	}
	if len(c.Permissions) > 0 && !slices.Contains(c.Permissions, permission) {
		return false
	}
	if len(c.Results) > 0 && !slices.Contains(c.Results, result) {
		return false
	}
	rate := c.SampleRate
	if result == "denied" {
		rate = c.DeniedSampleRate
	}
	return rate >= 1 || (rate > 0 && rand.Float64() < rate)
}

// Record queues a decision without waiting; when the queue is full the decision is
// dropped and counted. Time is set here when the caller left it zero.
func (l *Log) Record(d datastore.Decision) {
	if d.Time.IsZero() {
		d.Time = l.cfg.Now()
	}
	// Microseconds, in UTC and without a monotonic reading: what every store keeps,
	// so a page cursor compares equal to the stored time.
	d.Time = d.Time.UTC().Truncate(time.Microsecond)
	select {
	case l.queue <- d:
	default:
		l.dropped.Inc()
	}
}

// Run writes queued decisions in batches and applies the retention until ctx ends;
// then it writes what is still queued, so a clean shutdown loses nothing, and
// returns. Run it once.
func (l *Log) Run(ctx context.Context) {
	flush := time.NewTicker(l.cfg.FlushInterval)
	defer flush.Stop()
	expireEvery := min(l.cfg.Retention/10, time.Hour)
	expire := time.NewTicker(expireEvery)
	defer expire.Stop()
	l.expire(ctx)
	batch := make([]datastore.Decision, 0, l.cfg.BatchSize)
	for {
		select {
		case <-ctx.Done():
			l.drain(batch)
			return
		case d := <-l.queue:
			batch = append(batch, d)
			if len(batch) == l.cfg.BatchSize {
				batch = l.write(ctx, batch)
			}
		case <-flush.C:
			batch = l.write(ctx, batch)
		case <-expire.C:
			l.expire(ctx)
		case done := <-l.flushes:
			batch = l.writeQueued(ctx, batch)
			l.expire(ctx)
			close(done)
		}
	}
}

// Flush makes the writer store every decision queued before the call and apply the
// retention, and waits for it (or for ctx). Operators never need it; tests and
// tools that read their own decisions right away do.
func (l *Log) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case l.flushes <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeQueued writes the batch and everything queued now.
func (l *Log) writeQueued(ctx context.Context, batch []datastore.Decision) []datastore.Decision {
	for {
		select {
		case d := <-l.queue:
			batch = append(batch, d)
			if len(batch) == l.cfg.BatchSize {
				batch = l.write(ctx, batch)
			}
		default:
			return l.write(ctx, batch)
		}
	}
}

// drain writes what is queued when the process stops, with a bounded wait.
func (l *Log) drain(batch []datastore.Decision) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.writeQueued(ctx, batch)
}

// write stores a batch and returns it emptied for reuse.
func (l *Log) write(ctx context.Context, batch []datastore.Decision) []datastore.Decision {
	if len(batch) == 0 {
		return batch
	}
	if err := l.store.WriteDecisions(ctx, batch); err != nil {
		l.failed.Add(float64(len(batch)))
		if ctx.Err() == nil {
			l.log.Warn("decision log: writing a batch failed; its decisions are lost", "decisions", len(batch), "error", err)
		}
	} else {
		l.written.Add(float64(len(batch)))
	}
	clear(batch)
	return batch[:0]
}

// expire deletes decisions older than the retention.
func (l *Log) expire(ctx context.Context) {
	n, err := l.store.DeleteDecisionsBefore(ctx, l.cfg.Now().Add(-l.cfg.Retention))
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("decision log: applying the retention failed", "error", err)
		}
		return
	}
	l.deleted.Add(float64(n))
}

package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pemba-authz/pemba/internal/serve"
)

func newServeCommand() *cobra.Command {
	// The flags fill o; their defaults are serve.DefaultConfig's.
	var o serve.Config
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Pemba server (gRPC and REST)",
		Long: `Run the Pemba server: the gRPC API, the REST gateway with its OpenAPI document
(GET /openapi.json), Prometheus metrics (GET /metrics) and health (GET /readyz, also
GET /healthz, and grpc health for readiness; GET /livez for liveness). With no flags
it stores data under ./pemba-data and listens on 127.0.0.1 only. On PostgreSQL or
CockroachDB it starts even when the database cannot be reached, reports not-ready
and keeps retrying.

Without a preshared key the server is open to every caller and therefore refuses
non-loopback addresses unless --insecure-no-auth is given.

SIGTERM or SIGINT stops it gracefully: it stops accepting requests, lets the ones in
flight finish (up to --shutdown-grace) and closes the datastore.`,
		Example: `  pemba serve
  pemba serve --datastore memory
  pemba serve --preshared-key "$(cat admin.key)" --grpc-addr 0.0.0.0:50051 --http-addr 0.0.0.0:8080
  PEMBA_DATASTORE=postgres PEMBA_DATASTORE_URI=postgres://... pemba serve --preshared-key-file keys.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logFormat, logLevel, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return serve.Run(cmd.Context(), o, log)
		},
	}
	d := serve.DefaultConfig()
	f := cmd.Flags()
	f.StringVar(&o.GRPCAddr, "grpc-addr", d.GRPCAddr, "gRPC listen address")
	f.StringVar(&o.HTTPAddr, "http-addr", d.HTTPAddr, "HTTP listen address (REST gateway, AuthZEN, /openapi.json, /metrics, /readyz, /livez)")
	f.StringVar(&o.PublicURL, "public-url", d.PublicURL, "externally visible base URL of the HTTP port, e.g. https://pdp.example.com, named in the AuthZEN metadata document (empty: taken from each request)")

	f.StringVar(&o.Datastore, "datastore", d.Datastore, "datastore: bolt (embedded, durable), memory (not durable) or postgres (PostgreSQL/CockroachDB)")
	f.StringVar(&o.DatastorePath, "datastore-path", d.DatastorePath, "directory of the embedded bolt datastore")
	f.StringVar(&o.DatastoreURI, "datastore-uri", d.DatastoreURI, "PostgreSQL/CockroachDB connection URI (--datastore postgres)")
	f.DurationVar(&o.GCInterval, "gc-interval", d.GCInterval, "how often old revisions are garbage-collected (0 disables)")
	f.DurationVar(&o.GrantSweepInterval, "grant-sweep-interval", d.GrantSweepInterval, "how often delegated grants whose while-conditions ended are deleted, with an audit record of the cause (0 disables)")
	f.DurationVar(&o.GCWindow, "gc-window", d.GCWindow, "how long a superseded revision stays readable")
	f.BoolVar(&o.Index, "index", d.Index, "keep an in-memory index of relationships, fed by the store's change log, and answer checks from it (bolt and postgres)")
	f.DurationVar(&o.QuantizationWindow, "quantization-window", d.QuantizationWindow, "how stale a minimize_latency read may be (shared revisions make caches hit)")
	f.DurationVar(&o.AuditRetention, "audit-retention", d.AuditRetention, "how long audit records are kept (0 keeps them forever)")
	f.DurationVar(&o.RequestTTL, "request-ttl", d.RequestTTL, "how long an access request stays pending before it expires")

	f.IntVar(&o.EngineCacheSize, "engine-cache-size", d.EngineCacheSize, "sub-problem results kept in the engine's cache (negative disables it)")
	f.IntVar(&o.EngineMaxDepth, "engine-max-depth", d.EngineMaxDepth, "deepest nesting one check may walk")

	f.StringArrayVar(&o.PresharedKeys, "preshared-key", d.PresharedKeys, "a bearer key, repeatable: SECRET (an admin key) or NAME:ROLE[@TENANT,...]:SECRET with ROLE admin, reader or delegate")
	f.StringVar(&o.KeyFile, "preshared-key-file", d.KeyFile, "YAML or JSON file of keys (see docs/operations.md)")
	f.BoolVar(&o.InsecureNoAuth, "insecure-no-auth", d.InsecureNoAuth, "allow serving without any key on non-loopback addresses (an open API)")

	f.StringVar(&o.TLSCertFile, "tls-cert-file", d.TLSCertFile, "PEM certificate for TLS on both ports")
	f.StringVar(&o.TLSKeyFile, "tls-key-file", d.TLSKeyFile, "PEM private key for TLS")
	f.StringVar(&o.TLSClientCAFile, "tls-client-ca-file", d.TLSClientCAFile, "PEM CA bundle; when set clients must present a certificate it signed (mTLS)")

	f.IntVar(&o.Limits.MaxMessageSize, "max-message-size", d.Limits.MaxMessageSize, "largest request message in bytes (gRPC message or REST body)")
	f.IntVar(&o.Limits.MaxUpdatesPerWrite, "max-updates-per-write", d.Limits.MaxUpdatesPerWrite, "most updates in one WriteRelationships")
	f.IntVar(&o.Limits.MaxPreconditions, "max-preconditions", d.Limits.MaxPreconditions, "most preconditions in one write or delete")
	f.IntVar(&o.Limits.MaxCheckBulkItems, "max-check-bulk-items", d.Limits.MaxCheckBulkItems, "most items in one CheckBulk")
	f.IntVar(&o.Limits.MaxContextualRelationships, "max-contextual-relationships", d.Limits.MaxContextualRelationships, "most contextual relationships in one request")
	f.IntVar(&o.Limits.MaxPageSize, "max-page-size", d.Limits.MaxPageSize, "most results per read, audit or review page (also the page size when a request asks for 0)")
	f.IntVar(&o.Limits.MaxLookupLimit, "max-lookup-limit", d.Limits.MaxLookupLimit, "most results of one LookupResources or LookupSubjects call (also the limit when a request asks for 0)")
	f.IntVar(&o.Limits.MaxDeleteLimit, "max-delete-limit", d.Limits.MaxDeleteLimit, "most relationships one DeleteRelationships removes")
	f.IntVar(&o.Limits.MaxLookupWork, "max-lookup-work", d.Limits.MaxLookupWork, "most store reads one LookupResources or LookupSubjects may make (each query and each relationship read counts one)")
	f.DurationVar(&o.Limits.DefaultDeadline, "default-deadline", d.Limits.DefaultDeadline, "deadline of unary requests that arrive without one")

	f.Float64Var(&o.Quotas.Tenant.RequestsPerSecond, "tenant-requests-per-second", d.Quotas.Tenant.RequestsPerSecond, "each tenant's sustained request rate (0: no limit); over it requests get RESOURCE_EXHAUSTED (HTTP 429) with a retry delay")
	f.IntVar(&o.Quotas.Tenant.Burst, "tenant-burst", d.Quotas.Tenant.Burst, "requests a tenant may send at once above its rate (0: one second's worth)")
	f.IntVar(&o.Quotas.Tenant.MaxConcurrent, "tenant-max-concurrent", d.Quotas.Tenant.MaxConcurrent, "each tenant's requests in flight at once, Watch streams excepted (0: no limit)")
	f.Int64Var(&o.Quotas.Tenant.MaxRelationships, "tenant-max-relationships", d.Quotas.Tenant.MaxRelationships, "relationships each tenant may store; writes and import batches beyond it are refused whole (0: no limit)")
	f.Float64Var(&o.Quotas.Key.RequestsPerSecond, "key-requests-per-second", d.Quotas.Key.RequestsPerSecond, "each key's sustained request rate (0: no limit)")
	f.IntVar(&o.Quotas.Key.Burst, "key-burst", d.Quotas.Key.Burst, "requests a key may send at once above its rate (0: one second's worth)")
	f.IntVar(&o.Quotas.Key.MaxConcurrent, "key-max-concurrent", d.Quotas.Key.MaxConcurrent, "each key's requests in flight at once, Watch streams excepted (0: no limit)")
	f.StringVar(&o.QuotaFile, "quota-file", d.QuotaFile, "YAML or JSON file of per-tenant quotas (see docs/operations.md); keys' own quotas go in the key file")
	f.DurationVar(&o.ShutdownGrace, "shutdown-grace", d.ShutdownGrace, "how long in-flight requests may run after SIGTERM before they are cancelled")

	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug (every request), info, warn or error")

	f.StringVar(&o.TracingEndpoint, "tracing-endpoint", d.TracingEndpoint, "OTLP/gRPC collector host:port; empty turns tracing off")
	f.BoolVar(&o.TracingInsecure, "tracing-insecure", d.TracingInsecure, "send spans to the collector without TLS")
	f.Float64Var(&o.TracingSampleRatio, "tracing-sample-ratio", d.TracingSampleRatio, "fraction of new traces sampled")

	o.MemoryLimit = d.MemoryLimit
	f.Var(byteQuantity{&o.MemoryLimit}, "memory-limit", "memory the process may use, e.g. the container's limit (2Gi, 1536Mi or bytes); the Go heap is kept under --memory-limit-ratio of it (0: none, GOMEMLIMIT applies)")
	f.Float64Var(&o.MemoryLimitRatio, "memory-limit-ratio", d.MemoryLimitRatio, "share (0..1] of --memory-limit given to the Go runtime as its soft limit; the rest is headroom for mapped files and the runtime's overhead")
	f.StringVar(&o.PprofAddr, "pprof-addr", d.PprofAddr, "serve Go profiles on this loopback address (e.g. 127.0.0.1:6060); empty is off")

	c := &o.Console
	f.BoolVar(&c.Enabled, "console", d.Console.Enabled, "serve the web console at /console on the HTTP port (off: no /console route exists; see docs/console.md)")
	f.StringVar(&c.Issuer, "console-issuer", d.Console.Issuer, "OpenID Connect issuer URL people sign in to the console with, e.g. https://login.example.com/realms/acme (empty: operators with an admin key only)")
	f.StringVar(&c.ClientID, "console-client-id", d.Console.ClientID, "the console's OAuth2 client ID at the issuer")
	f.StringVar(&c.ClientSecretFile, "console-client-secret-file", d.Console.ClientSecretFile, "file holding the console's OAuth2 client secret (else the environment variable "+serve.ConsoleSecretEnv+")")
	f.StringVar(&c.RedirectURL, "console-redirect-url", d.Console.RedirectURL, "the redirect URI registered at the issuer, ending in /console/callback, e.g. https://pdp.example.com/console/callback")
	f.StringVar(&c.SubjectClaim, "console-subject-claim", d.Console.SubjectClaim, "ID-token claim that names the signed-in person")
	f.StringVar(&c.SubjectType, "console-subject-type", d.Console.SubjectType, "subject type the claim becomes: sub alice acts as user:alice")
	f.StringVar(&c.TenantClaim, "console-tenant-claim", d.Console.TenantClaim, "ID-token claim that names the person's tenant (empty: the default tenant)")
	f.DurationVar(&c.SessionTTL, "console-session-ttl", d.Console.SessionTTL, "how long a console session lasts; the server forgets it then")

	dl := &o.DecisionLog
	f.BoolVar(&dl.Enabled, "decision-log", d.DecisionLog.Enabled, "record permission decisions (Check, CheckBulk items, lookups) in the datastore, queryable with ReadDecisions and pemba audit decisions")
	f.Float64Var(&dl.SampleRate, "decision-log-sample", d.DecisionLog.SampleRate, "fraction (0..1) of allowed and conditional decisions recorded")
	f.Float64Var(&dl.DeniedSampleRate, "decision-log-denied-sample", d.DecisionLog.DeniedSampleRate, "fraction (0..1) of denied decisions recorded")
	f.StringSliceVar(&dl.Tenants, "decision-log-tenants", d.DecisionLog.Tenants, "record only decisions in these tenants (comma-separated; empty: all)")
	f.StringSliceVar(&dl.ResourceTypes, "decision-log-resource-types", d.DecisionLog.ResourceTypes, "record only decisions on these resource types (empty: all)")
	f.StringSliceVar(&dl.Permissions, "decision-log-permissions", d.DecisionLog.Permissions, "record only decisions on these permissions (empty: all)")
	f.StringSliceVar(&dl.Results, "decision-log-results", d.DecisionLog.Results, "record only these results: allowed, denied, conditional (empty: all)")
	f.IntVar(&dl.QueueSize, "decision-log-queue-size", d.DecisionLog.QueueSize, "decisions waiting for the writer; beyond it they are dropped and counted in pemba_decision_log_dropped_total")
	f.DurationVar(&dl.Retention, "decision-log-retention", d.DecisionLog.Retention, "how long recorded decisions are kept")
	addRetentionFlags(f, &o, d)
	return cmd
}

// newLogger builds the process logger.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q is not one of text, json", format)
}

package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"github.com/pemba-authz/pemba/internal/console"
	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/decisionlog"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Engine is what the server needs of the permission engine; *engine.Engine
// implements it.
type Engine interface {
	ResolveRevision(ctx context.Context, tenant string, c engine.Consistency) (datastore.Revision, error)
	Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error)
	CheckBulk(ctx context.Context, reqs []engine.CheckRequest) []engine.BulkResult
	Expand(ctx context.Context, req engine.ExpandRequest) (*engine.ExpandNode, error)
	LookupResources(ctx context.Context, req engine.LookupResourcesRequest) iter.Seq2[engine.ResourceResult, error]
	LookupSubjects(ctx context.Context, req engine.LookupSubjectsRequest) iter.Seq2[engine.SubjectResult, error]
	Permissions(ctx context.Context, req engine.PermissionsRequest) ([]engine.PermissionResult, error)
	// Schema returns the tenant's compiled schema at a revision.
	Schema(ctx context.Context, tenant string, rev datastore.Revision) (*schema.Schema, error)
	// ForgetTenant drops what the engine remembers of a deleted tenant.
	ForgetTenant(tenant string)
}

// Writer is what the server needs of the write path; *write.Writer implements it.
type Writer interface {
	WriteRelationships(ctx context.Context, req write.Request, updates []datastore.Update, pre []write.Precondition) (datastore.Revision, error)
	DeleteRelationships(ctx context.Context, req write.Request, f datastore.RelationshipFilter, limit int, pre []write.Precondition) (write.DeleteResult, error)
	WriteSchema(ctx context.Context, req write.Request, text string, dryRun bool) (write.SchemaResult, error)
	Import(ctx context.Context, req write.Request, rels iter.Seq2[tuple.Relationship, error]) (write.ImportResult, error)
	Offboard(ctx context.Context, req write.Request, subject tuple.SubjectRef, org *tuple.ObjectRef) (write.OffboardResult, error)
	PreviewOffboard(ctx context.Context, req write.Request, subject tuple.SubjectRef, org *tuple.ObjectRef) (write.OffboardResult, error)

	CreateAccessRequest(ctx context.Context, req write.Request, in write.NewAccessRequest) (requests.AccessRequest, bool, error)
	ApproveAccessRequest(ctx context.Context, req write.Request, id string, duration time.Duration) (requests.AccessRequest, error)
	DenyAccessRequest(ctx context.Context, req write.Request, id string) (requests.AccessRequest, error)
	CancelAccessRequest(ctx context.Context, req write.Request, id string) (requests.AccessRequest, error)
	GetAccessRequest(ctx context.Context, tenant string, rev datastore.Revision, id string) (requests.AccessRequest, error)
	ListMyAccessRequests(ctx context.Context, tenant string, rev datastore.Revision, requester tuple.SubjectRef, q requests.Query) (requests.Page, error)
	ListAccessRequestInbox(ctx context.Context, tenant string, rev datastore.Revision, approver tuple.SubjectRef, q requests.Query) (requests.Page, error)
	// Now is the clock that decides when pending requests expire.
	Now() time.Time

	scimWriter
}

// Reviewer is what the server needs for audits and access reviews;
// *governance.Reviewer implements it.
type Reviewer interface {
	Provenance(ctx context.Context, tenant string, rev datastore.Revision, root *engine.ExplainNode) (map[tuple.Key]governance.Provenance, error)
	GrantsInForce(ctx context.Context, tenant string, rev datastore.Revision, actor tuple.SubjectRef, limit int) ([]governance.Grant, error)
	Access(ctx context.Context, req governance.AccessRequest) ([]governance.Access, error)
	WhatIf(ctx context.Context, req governance.WhatIfRequest) (governance.WhatIfResult, error)
}

// Config is everything a Server needs. Datastore, Engine, Writer and Reviewer are
// required.
type Config struct {
	Datastore datastore.Datastore
	Engine    Engine
	Writer    Writer
	Reviewer  Reviewer
	// Backup, when set, serves BackupService from a store that can copy itself (the
	// embedded store); without it Backup answers FAILED_PRECONDITION.
	Backup Backuper

	// GRPCAddr and HTTPAddr are the listen addresses; port 0 picks a free port.
	// Defaults 127.0.0.1:50051 and 127.0.0.1:8080.
	GRPCAddr, HTTPAddr string
	// Keys are the preshared bearer keys. With none the server runs without
	// authentication and refuses to listen beyond loopback unless InsecureNoAuth.
	Keys           []Key
	InsecureNoAuth bool
	// TLS, when set, serves gRPC and HTTP over TLS (with client certificates when it
	// asks for them).
	TLS *tls.Config
	// PublicURL is the externally visible base URL of the HTTP port (behind a proxy
	// or load balancer), used where the server names its own endpoints: the AuthZEN
	// metadata document. Empty derives it from each request's scheme and Host.
	PublicURL string

	Limits Limits
	// Quotas bound the requests, relationships and lookups per tenant and per key.
	// The zero value sets none. The write path's relationship limit and the
	// engine's lookup work limit must be given the same quotas (serve.NewStack does).
	Quotas Quotas
	// Logger receives the request log; default slog.Default().
	Logger *slog.Logger
	// Registry receives the server's metrics and is served on /metrics; default a new
	// registry with the Go and process collectors.
	Registry *prometheus.Registry
	// Collectors are registered on Registry too (the engine's and the index's).
	Collectors []prometheus.Collector
	// TracerProvider, when set, traces every RPC with OpenTelemetry.
	TracerProvider trace.TracerProvider
	// DecisionLog, when set, records permission decisions and serves ReadDecisions;
	// its metrics are registered on Registry. Its writer (Run) is the caller's.
	DecisionLog *decisionlog.Log
	// ErasureSecret keys the pseudonyms of EraseSubject (HMAC-SHA256); without it
	// EraseSubject answers FAILED_PRECONDITION. It is never logged.
	ErasureSecret []byte
	// Eraser rewrites the audit trail and the decision log for EraseSubject: the
	// backing store, not an index over it. Without it EraseSubject answers
	// FAILED_PRECONDITION.
	Eraser datastore.SubjectEraser
	// Console, when set, serves the web console at /console on the HTTP port; nil
	// serves no /console route at all.
	Console *console.Config
}

// Defaults for Config.
const (
	DefaultGRPCAddr = "127.0.0.1:50051"
	DefaultHTTPAddr = "127.0.0.1:8080"
)

// Server serves the v1 API over gRPC and REST.
type Server struct {
	cfg      Config
	ds       datastore.Datastore
	engine   Engine
	writer   Writer
	reviewer Reviewer
	// decisions is the decision log; nil when it is off.
	decisions *decisionlog.Log
	limits    Limits
	quotas    Quotas
	gate      *quotaGate // nil when no quota bounds requests
	log       *slog.Logger

	grpcServer     *grpc.Server // external listener, with TLS when configured
	internalServer *grpc.Server // the REST gateway's in-process connection
	internalLis    *bufconn.Listener
	gatewayConn    *grpc.ClientConn
	httpServer     *http.Server
	health         *health.Server
	storeErr       atomic.Pointer[probeResult] // the last ReportStore, nil before any
	registry       *prometheus.Registry
	// consoleSecret is the web console's own delegate key (empty without keys).
	consoleSecret string

	grpcLis, httpLis net.Listener
	serveErr         chan error
	// stopping is closed when Shutdown begins; endless streams (Watch) end on it so
	// they do not hold the graceful shutdown until its grace period runs out.
	stopping     chan struct{}
	wg           sync.WaitGroup
	shutdownOnce sync.Once
}

// New builds a server. It checks the configuration (the loopback rule among it) but
// does not listen; call Start.
func New(cfg Config) (*Server, error) {
	if cfg.Datastore == nil || cfg.Engine == nil || cfg.Writer == nil || cfg.Reviewer == nil {
		return nil, errors.New("server: Datastore, Engine, Writer and Reviewer are required")
	}
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = DefaultGRPCAddr
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = DefaultHTTPAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = newRegistry()
	}
	collectors := cfg.Collectors
	if cfg.DecisionLog != nil {
		collectors = append(slices.Clip(collectors), cfg.DecisionLog.Collectors()...)
	}
	for _, c := range collectors {
		if err := cfg.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	consoleSecret, err := addConsoleKey(&cfg)
	if err != nil {
		return nil, err
	}
	if err := ValidateKeys(cfg.Keys); err != nil {
		return nil, err
	}
	if cfg.Console != nil {
		if err := cfg.Console.Validate(); err != nil {
			return nil, err
		}
	}
	if err := cfg.Quotas.Validate(); err != nil {
		return nil, err
	}
	if err := CheckOpenAccess(len(cfg.Keys) > 0, cfg.InsecureNoAuth, cfg.GRPCAddr, cfg.HTTPAddr); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		ds:        cfg.Datastore,
		engine:    cfg.Engine,
		writer:    cfg.Writer,
		reviewer:  cfg.Reviewer,
		decisions: cfg.DecisionLog,
		limits:    cfg.Limits.WithDefaults(),
		quotas:    cfg.Quotas,
		gate:      newQuotaGate(cfg.Quotas, cfg.Keys),
		log:       cfg.Logger,
		registry:  cfg.Registry,
		health:    health.NewServer(),
		serveErr:  make(chan error, 2),
		stopping:  make(chan struct{}),

		consoleSecret: consoleSecret,
	}
	m := newMetrics(cfg.Registry)
	var creds credentials.TransportCredentials
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	s.grpcServer = s.newGRPCServer(m, "grpc", creds)
	s.internalServer = s.newGRPCServer(m, "rest", nil)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// newGRPCServer builds one gRPC server with the full interceptor chain and every
// service registered.
func (s *Server) newGRPCServer(m *metrics, transport string, creds credentials.TransportCredentials) *grpc.Server {
	auth := &authenticator{keys: s.cfg.Keys}
	obs := &observer{metrics: m, log: s.log, transport: transport}
	rec := recoverer{log: s.log}
	// Quotas come right after authentication, which knows the key and the tenant, so
	// a refused request costs no more than that.
	unary := []grpc.UnaryServerInterceptor{obs.unary, rec.unary, auth.unary}
	stream := []grpc.StreamServerInterceptor{obs.stream, rec.stream, auth.stream}
	if s.gate != nil {
		unary, stream = append(unary, s.gate.unary), append(stream, s.gate.stream)
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.limits.MaxMessageSize),
		// A pool of long-lived goroutines serves requests: their stacks stay grown, so
		// a deep check does not pay for stack growth on every request. Streams beyond
		// the pool get their own goroutine as before.
		grpc.NumStreamWorkers(uint32(16 * runtime.GOMAXPROCS(0))),
		grpc.ChainUnaryInterceptor(append(unary, s.limits.unary)...),
		grpc.ChainStreamInterceptor(append(stream, s.limits.stream)...),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	if s.cfg.TracerProvider != nil {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(s.cfg.TracerProvider))))
	}
	g := grpc.NewServer(opts...)
	pb.RegisterPermissionServiceServer(g, &permissionService{Server: s})
	pb.RegisterRelationshipServiceServer(g, &relationshipService{Server: s})
	pb.RegisterSchemaServiceServer(g, &schemaService{Server: s})
	pb.RegisterWatchServiceServer(g, &watchService{Server: s})
	pb.RegisterAuditServiceServer(g, &auditService{Server: s})
	pb.RegisterGovernanceServiceServer(g, &governanceService{Server: s})
	pb.RegisterTenantServiceServer(g, &tenantService{Server: s})
	pb.RegisterBackupServiceServer(g, &backupService{Server: s})
	pb.RegisterAccessRequestServiceServer(g, &accessRequestService{Server: s})
	pb.RegisterScimConnectionServiceServer(g, &scimConnectionService{Server: s})
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
	return g
}

// The services. Each RPC is a method in the file named after it.
type (
	permissionService struct {
		pb.UnimplementedPermissionServiceServer
		*Server
	}
	relationshipService struct {
		pb.UnimplementedRelationshipServiceServer
		*Server
	}
	schemaService struct {
		pb.UnimplementedSchemaServiceServer
		*Server
	}
	watchService struct {
		pb.UnimplementedWatchServiceServer
		*Server
	}
	auditService struct {
		pb.UnimplementedAuditServiceServer
		*Server
	}
	governanceService struct {
		pb.UnimplementedGovernanceServiceServer
		*Server
	}
	tenantService struct {
		pb.UnimplementedTenantServiceServer
		*Server
	}
	backupService struct {
		pb.UnimplementedBackupServiceServer
		*Server
	}
	accessRequestService struct {
		pb.UnimplementedAccessRequestServiceServer
		*Server
	}
)

// Start listens on the gRPC and HTTP addresses and serves in the background. Serving
// errors are reported by Wait.
func (s *Server) Start() error {
	glis, err := net.Listen("tcp", s.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listening for gRPC on %s: %w", s.cfg.GRPCAddr, err)
	}
	hlis, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		glis.Close()
		return fmt.Errorf("listening for HTTP on %s: %w", s.cfg.HTTPAddr, err)
	}
	if s.cfg.TLS != nil {
		httpTLS := s.cfg.TLS.Clone()
		httpTLS.NextProtos = []string{"h2", "http/1.1"}
		hlis = tls.NewListener(hlis, httpTLS)
	}
	s.grpcLis, s.httpLis = glis, hlis

	s.internalLis = bufconn.Listen(1 << 20)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Ends when Shutdown stops the internal server.
		_ = s.internalServer.Serve(s.internalLis)
	}()
	handler, conn, err := s.newHTTPHandler()
	if err != nil {
		s.internalServer.Stop()
		glis.Close()
		hlis.Close()
		return err
	}
	s.gatewayConn = conn
	s.httpServer = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.grpcServer.Serve(glis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.serveErr <- fmt.Errorf("gRPC server: %w", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.httpServer.Serve(hlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- fmt.Errorf("HTTP server: %w", err)
		}
	}()
	if len(s.cfg.Keys) == 0 {
		s.log.Warn("RUNNING WITHOUT AUTHENTICATION: no preshared key is configured, every caller is an admin; configure --preshared-key or --preshared-key-file before exposing this server")
	}
	s.log.Info("serving", "grpc", glis.Addr().String(), "http", hlis.Addr().String(), "tls", s.cfg.TLS != nil, "keys", len(s.cfg.Keys), "limits", s.limits.String(), "quotas", s.quotas.String())
	return nil
}

// GRPCAddr is the address the gRPC listener is bound to (after Start).
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the address the HTTP listener is bound to (after Start).
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// Errors reports a listener that failed while serving.
func (s *Server) Errors() <-chan error { return s.serveErr }

// Shutdown stops accepting requests and lets the ones in flight finish. When ctx ends
// first, the remaining requests are cancelled. It does not close the datastore: its
// owner does that after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutdownOnce.Do(func() {
		s.health.Shutdown() // probes see NOT_SERVING while requests drain
		close(s.stopping)
		s.log.Info("shutting down: waiting for in-flight requests")

		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if s.httpServer != nil {
				if e := s.httpServer.Shutdown(ctx); e != nil {
					s.httpServer.Close()
				}
			}
		}()
		go func() {
			defer wg.Done()
			gracefulStop(ctx, s.grpcServer)
		}()
		wg.Wait()
		// REST requests have drained with the HTTP server; now the gateway's side.
		if s.gatewayConn != nil {
			s.gatewayConn.Close()
		}
		gracefulStop(ctx, s.internalServer)
		s.wg.Wait()
		if ctx.Err() != nil {
			err = fmt.Errorf("shutdown grace period ended with requests in flight; they were cancelled: %w", ctx.Err())
		}
	})
	return err
}

// gracefulStop stops a gRPC server gracefully, or abruptly once ctx ends.
func gracefulStop(ctx context.Context, g *grpc.Server) {
	done := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		g.Stop()
		<-done
	}
}

// CheckOpenAccess enforces the loopback rule: a server without keys serves only
// loopback addresses, unless insecureNoAuth says an open API on the network is meant.
func CheckOpenAccess(haveKeys, insecureNoAuth bool, addrs ...string) error {
	if haveKeys || insecureNoAuth {
		return nil
	}
	for _, addr := range addrs {
		if !IsLoopback(addr) {
			return fmt.Errorf("refusing to listen on %s without authentication: no preshared key is configured, so only loopback addresses (127.0.0.1, ::1, localhost) are allowed; configure a key with --preshared-key or --preshared-key-file, or pass --insecure-no-auth to serve an open API on the network", addr)
		}
	}
	return nil
}

// IsLoopback reports whether a listen address only accepts local connections.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

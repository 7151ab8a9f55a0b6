// Package client is Pemba's Go client: one connection to a Pemba server with the
// generated v1 service clients on it, bearer-key authentication, retries of calls
// that fail with UNAVAILABLE, and helpers that carry consistency tokens from a write
// to the reads that must see it.
//
// The usual pattern for the new-enemy problem: store the token a write returns next
// to the content it protects (a column beside the document), and send it with every
// check of that content as at_least_as_fresh. Either set it on a request with
// AtLeastAsFresh, or put it in the context with WithToken and let the client set it on
// every read request that names no consistency.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Client is a connection to a Pemba server. Its fields are the generated clients of
// each service; they are safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn

	Permissions    pb.PermissionServiceClient
	Relationships  pb.RelationshipServiceClient
	Schemas        pb.SchemaServiceClient
	Watch          pb.WatchServiceClient
	Audit          pb.AuditServiceClient
	Governance     pb.GovernanceServiceClient
	Tenants        pb.TenantServiceClient
	AccessRequests pb.AccessRequestServiceClient
}

type options struct {
	key      string
	tls      *tls.Config
	insecure bool
	retries  int
	backoff  time.Duration
	dialOpts []grpc.DialOption
}

// Option configures New.
type Option func(*options)

// WithKey sends a bearer key with every call. Over a connection without TLS it is
// only allowed to a loopback address.
func WithKey(secret string) Option { return func(o *options) { o.key = secret } }

// WithTLS connects with TLS (and a client certificate, when the config has one).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithInsecure connects without TLS. Needed for a server without TLS; a key is then
// only sent to a loopback address.
func WithInsecure() Option { return func(o *options) { o.insecure = true } }

// WithRetries sets how many times a call that failed with UNAVAILABLE is tried in all
// (default 5; 1 turns retries off) and the first back-off (default 100ms, doubling
// up to 5s, with jitter).
func WithRetries(attempts int, initialBackoff time.Duration) Option {
	return func(o *options) { o.retries, o.backoff = attempts, initialBackoff }
}

// WithDialOptions adds gRPC dial options (interceptors, a stats handler, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// New connects to the server at target (host:port, or any gRPC target). It does not
// wait for the connection; the first call does.
func New(target string, opts ...Option) (*Client, error) {
	o := options{retries: 5, backoff: 100 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	if o.tls == nil && !o.insecure {
		return nil, errors.New("client: choose WithTLS or WithInsecure")
	}
	if o.tls != nil && o.insecure {
		return nil, errors.New("client: WithTLS and WithInsecure exclude each other")
	}
	if o.retries < 1 || o.retries > 10 {
		return nil, fmt.Errorf("client: retries must be 1 to 10 attempts, got %d", o.retries)
	}
	if o.backoff <= 0 {
		return nil, fmt.Errorf("client: the initial back-off must be positive, got %v", o.backoff)
	}
	dial := []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(tokenUnary),
		grpc.WithChainStreamInterceptor(tokenStream),
	}
	if o.retries > 1 {
		dial = append(dial, grpc.WithDefaultServiceConfig(retryConfig(o.retries, o.backoff)))
	} else {
		dial = append(dial, grpc.WithDisableRetry())
	}
	if o.tls != nil {
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
	} else {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if o.key != "" {
		if o.tls == nil && !isLoopback(target) {
			return nil, fmt.Errorf("client: refusing to send a key without TLS to %s (not a loopback address)", target)
		}
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{key: o.key, secure: o.tls != nil}))
	}
	conn, err := grpc.NewClient(target, append(dial, o.dialOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{
		conn:           conn,
		Permissions:    pb.NewPermissionServiceClient(conn),
		Relationships:  pb.NewRelationshipServiceClient(conn),
		Schemas:        pb.NewSchemaServiceClient(conn),
		Watch:          pb.NewWatchServiceClient(conn),
		Audit:          pb.NewAuditServiceClient(conn),
		Governance:     pb.NewGovernanceServiceClient(conn),
		Tenants:        pb.NewTenantServiceClient(conn),
		AccessRequests: pb.NewAccessRequestServiceClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn is the underlying connection, for services this package does not name.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// retryConfig retries every call of the v1 services that fails with UNAVAILABLE:
// the server answers it when its datastore is unreachable or it is shutting down, and
// then it has written nothing. gRPC retries a stream only until its first response.
func retryConfig(attempts int, backoff time.Duration) string {
	return fmt.Sprintf(`{"methodConfig":[{"name":[{"service":"pemba.v1.PermissionService"},{"service":"pemba.v1.RelationshipService"},{"service":"pemba.v1.SchemaService"},{"service":"pemba.v1.WatchService"},{"service":"pemba.v1.AuditService"},{"service":"pemba.v1.GovernanceService"},{"service":"pemba.v1.TenantService"},{"service":"pemba.v1.AccessRequestService"}],
"retryPolicy":{"maxAttempts":%d,"initialBackoff":"%.3fs","maxBackoff":"5s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}`,
		attempts, backoff.Seconds())
}

func isLoopback(target string) bool {
	host := target
	if i := strings.LastIndex(target, "///"); i >= 0 {
		host = target[i+3:]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// bearer sends the key as an Authorization header.
type bearer struct {
	key    string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// AtLeastAsFresh is the consistency of a read that must see the write that returned
// token. An empty token (content written before tokens were stored) reads with
// minimize_latency.
func AtLeastAsFresh(token string) *pb.Consistency {
	if token == "" {
		return &pb.Consistency{Requirement: &pb.Consistency_MinimizeLatency{MinimizeLatency: true}}
	}
	return &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: token}}
}

// FullyConsistent is the consistency of a read at the newest revision.
func FullyConsistent() *pb.Consistency {
	return &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}
}

type tokenKey struct{}

// WithToken returns a context whose read requests, sent through a Client, carry
// at_least_as_fresh: token when they name no consistency of their own. An empty token
// leaves ctx as it is.
func WithToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFrom returns the token WithToken put in ctx.
func TokenFrom(ctx context.Context) string {
	t, _ := ctx.Value(tokenKey{}).(string)
	return t
}

// Token returns the consistency token of any response that carries one ("" if none).
func Token(resp interface{ GetToken() string }) string {
	if resp == nil {
		return ""
	}
	return resp.GetToken()
}

// applyToken sets consistency on a request message that has the field and leaves it
// unset.
func applyToken(ctx context.Context, req any) any {
	token := TokenFrom(ctx)
	m, ok := req.(proto.Message)
	if token == "" || !ok {
		return req
	}
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("consistency")
	if f == nil || f.Kind() != protoreflect.MessageKind || r.Has(f) {
		return req
	}
	c := proto.Clone(m)
	c.ProtoReflect().Set(f, protoreflect.ValueOfMessage(AtLeastAsFresh(token).ProtoReflect()))
	return c
}

func tokenUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(ctx, method, applyToken(ctx, req), reply, cc, opts...)
}

func tokenStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil || TokenFrom(ctx) == "" {
		return s, err
	}
	return &tokenClientStream{ClientStream: s, ctx: ctx}, nil
}

type tokenClientStream struct {
	grpc.ClientStream
	ctx context.Context
}

func (s *tokenClientStream) SendMsg(m any) error {
	return s.ClientStream.SendMsg(applyToken(s.ctx, m))
}

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pemba-authz/pemba/internal/authzen"
	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// maxJSONDepth bounds how deeply a REST body may nest messages (caveat contexts are
// the only nesting a request has; none needs more than a few levels).
const maxJSONDepth = 100

// importPath is the one REST route whose body is a stream of messages rather than one
// message, so the body-size limit applies per message (by the gRPC server) instead.
const importPath = "/v1/relationships/import"

// authzenMaxPage bounds an AuthZEN search page (one page is read from one lookup).
const authzenMaxPage = 1000

// newHTTPHandler builds the HTTP side: the REST gateway under /v1/, the OpenAPI
// document, Prometheus metrics and a health endpoint. The gateway calls the gRPC
// services through an in-process connection to a second gRPC server that has the
// same services and interceptors but no TLS, so REST requests are authenticated,
// limited, logged and counted exactly like gRPC ones.
func (s *Server) newHTTPHandler() (http.Handler, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///pemba-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return s.internalLis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting the REST gateway: %w", err)
	}
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, ndjsonMarshaler{&runtime.JSONPb{
			MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			// A request body nests at most maxJSONDepth levels. The gateway decodes
			// JSON and then hands the message to the gRPC server as binary, whose
			// decoder has its own depth limit; a body the first accepts and the second
			// refuses would come back as INTERNAL instead of a 400.
			UnmarshalOptions: protojson.UnmarshalOptions{RecursionLimit: maxJSONDepth},
		}}),
		runtime.WithRoutingErrorHandler(s.routingError),
		runtime.WithErrorHandler(s.writeHTTPError),
		runtime.WithStreamErrorHandler(streamError),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
	)
	ctx := context.Background()
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		pb.RegisterPermissionServiceHandler,
		pb.RegisterRelationshipServiceHandler,
		pb.RegisterSchemaServiceHandler,
		pb.RegisterWatchServiceHandler,
		pb.RegisterAuditServiceHandler,
		pb.RegisterGovernanceServiceHandler,
		pb.RegisterTenantServiceHandler,
		pb.RegisterAccessRequestServiceHandler,
		pb.RegisterScimConnectionServiceHandler,
	} {
		if err := register(ctx, gw, conn); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("registering a REST route: %w", err)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(pb.OpenAPI)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.routeHealth(mux)
	s.routeScim(mux)
	limit := int64(s.limits.MaxMessageSize)
	// AuthZEN's endpoints call the services through the gateway's connection, so
	// they pass the same authentication, limits, quotas and metrics.
	authzen.New(authzen.Options{
		Conn:         conn,
		MaxBodyBytes: limit,
		MaxPageSize:  min(authzenMaxPage, s.limits.MaxLookupLimit-1),
		PublicURL:    s.cfg.PublicURL,
	}).Register(mux)
	// The console, like AuthZEN, reaches the services only through conn.
	if err := s.registerConsole(mux, conn); err != nil {
		conn.Close()
		return nil, nil, err
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), responseHeaderKey{}, w.Header())
		if r.URL.Path != importPath {
			body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit)}
			ctx = context.WithValue(ctx, limitedBodyKey{}, body)
			r.Body = body
		}
		gw.ServeHTTP(w, r.WithContext(ctx))
	}))
	return mux, conn, nil
}

// limitedBody is a request body capped at the message-size limit. It remembers that
// the cap was hit, because the gateway turns the read error into a plain status
// before the error handler sees it.
type limitedBody struct {
	io.ReadCloser
	exceeded atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		b.exceeded.Store(true)
	}
	return n, err
}

// limitedBodyKey finds a request's limitedBody in its context.
type limitedBodyKey struct{}

// responseHeaderKey finds a REST response's header in its request's context, for
// the stream error handler, which is not given the response.
type responseHeaderKey struct{}

// streamError is the gateway's error handler for streaming RPCs (lookups, reads,
// exports, Watch). The gateway writes the error itself, as a chunk of the stream and,
// when nothing was sent yet, with the HTTP status of the code; this adds the
// Retry-After header of a quota refusal before that status is written.
func streamError(ctx context.Context, err error) *status.Status {
	st := status.Convert(err)
	if h, ok := ctx.Value(responseHeaderKey{}).(http.Header); ok {
		setRetryAfter(h, st)
	}
	return st
}

// setRetryAfter sets the Retry-After header, in whole seconds rounded up, of a status
// that carries retry information (a request over a rate or concurrency quota).
func setRetryAfter(h http.Header, st *status.Status) {
	if delay, ok := protoconv.RetryDelay(st); ok {
		h.Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(delay.Seconds()))), 10))
	}
}

// incomingHeader forwards the headers grpc-gateway forwards by default (Authorization
// among them) plus the W3C trace-context headers, so a REST caller's trace continues.
func incomingHeader(key string) (string, bool) {
	switch strings.ToLower(key) {
	case "traceparent", "tracestate", "baggage":
		return strings.ToLower(key), true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// writeHTTPError writes an error as the JSON form of pemba.v1.Error with the HTTP
// status of its gRPC code. A status with retry information (a request over its rate
// or concurrency quota, 429) also gets a Retry-After header, in whole seconds.
func (s *Server) writeHTTPError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	code, msg := st.Code(), st.Message()
	httpStatus := runtime.HTTPStatusFromCode(code)
	setRetryAfter(w.Header(), st)
	if body, ok := r.Context().Value(limitedBodyKey{}).(*limitedBody); ok && body.exceeded.Load() {
		code, httpStatus = codes.ResourceExhausted, http.StatusRequestEntityTooLarge
		msg = fmt.Sprintf("request body exceeds the limit of %d bytes (server flag --max-message-size)", s.limits.MaxMessageSize)
	}
	if code == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pemba"`)
	}
	s.writeError(w, m, httpStatus, code, msg)
}

// writeError writes the Error body every REST error carries.
func (s *Server) writeError(w http.ResponseWriter, m runtime.Marshaler, httpStatus int, code codes.Code, msg string) {
	body, merr := m.Marshal(&pb.Error{Code: int32(code), Status: protoconv.CodeName(code), Message: msg})
	if merr != nil {
		body = []byte(`{"code":13,"status":"INTERNAL","message":"failed to encode the error"}`)
		httpStatus = http.StatusInternalServerError
	}
	w.Header().Del("Trailer")
	w.Header().Del("Transfer-Encoding")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	w.Write(body)
}

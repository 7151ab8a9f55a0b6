package authzen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// maxDepth bounds how deeply a request body may nest (contexts and properties are
// the only nesting an AuthZEN request has).
const maxDepth = 32

// Endpoint paths, relative to the PDP's base (the server's root for the default
// tenant, /TENANT for another tenant).
const (
	PathEvaluation     = "/access/v1/evaluation"
	PathEvaluations    = "/access/v1/evaluations"
	PathSearchSubject  = "/access/v1/search/subject"
	PathSearchResource = "/access/v1/search/resource"
	PathSearchAction   = "/access/v1/search/action"
	PathMetadata       = "/.well-known/authzen-configuration"
)

// Headers beyond the specification's: the consistency a request asks for (the text
// form the CLI's --consistency takes) and the revision token an answer was computed at.
const (
	HeaderConsistency = "Pemba-Consistency"
	HeaderToken       = "Pemba-Token"
	headerRequestID   = "X-Request-ID"
)

// Options configure the handler.
type Options struct {
	// Conn reaches the server's own gRPC services (the REST gateway's in-process
	// connection), so every call passes the server's interceptors.
	Conn grpc.ClientConnInterface
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// MaxPageSize bounds a search page; a larger page.limit is lowered to it.
	MaxPageSize int
	// PublicURL is the externally visible base URL of the HTTP port, used in the
	// metadata document. Empty derives it from each request (scheme and Host).
	PublicURL string
}

// Handler serves the AuthZEN endpoints.
type Handler struct {
	perms pb.PermissionServiceClient
	opts  Options
}

// New returns the handler.
func New(opts Options) *Handler {
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 1000
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	return &Handler{perms: pb.NewPermissionServiceClient(opts.Conn), opts: opts}
}

// Register adds the endpoints to mux: the default tenant's at the root, another
// tenant's under /TENANT, and the metadata document of each.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, prefix := range []string{"", "/{tenant}"} {
		mux.HandleFunc("POST "+prefix+PathEvaluation, h.endpoint(h.evaluation))
		mux.HandleFunc("POST "+prefix+PathEvaluations, h.endpoint(h.evaluations))
		mux.HandleFunc("POST "+prefix+PathSearchSubject, h.endpoint(h.searchSubject))
		mux.HandleFunc("POST "+prefix+PathSearchResource, h.endpoint(h.searchResource))
		mux.HandleFunc("POST "+prefix+PathSearchAction, h.endpoint(h.searchAction))
		for _, p := range []string{PathEvaluation, PathEvaluations, PathSearchSubject, PathSearchResource, PathSearchAction} {
			mux.HandleFunc(prefix+p, onlyPost)
		}
	}
	mux.HandleFunc("GET "+PathMetadata, h.metadata)
	mux.HandleFunc("GET "+PathMetadata+"/{tenant}", h.metadata)
}

// onlyPost answers any other method on an endpoint: every AuthZEN request is a POST.
func onlyPost(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: the AuthZEN endpoints answer POST only", r.Method, r.URL.Path))
}

// call is one endpoint's work on a decoded request: it returns the response body and
// the revision token of the answer.
type call func(ctx context.Context, tenant string, consistency *pb.Consistency, body []byte) (any, string, error)

// requestError is an error in the request itself: 400 with its message.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// endpoint wraps a call with what every endpoint shares: the request id, the media
// type, the body limit, the tenant, authentication passed through, and error
// answers.
func (h *Handler) endpoint(c call) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(headerRequestID); id != "" {
			w.Header().Set(headerRequestID, id)
		}
		if mt := mediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			h.fail(w, badRequest("Content-Type must be application/json, not %q", r.Header.Get("Content-Type")))
			return
		}
		tenant := r.PathValue("tenant")
		if tenant != "" {
			if err := tuple.ValidateTenantName(tenant); err != nil {
				writeError(w, http.StatusNotFound, fmt.Sprintf("no AuthZEN endpoint at %s: %v", r.URL.Path, err))
				return
			}
		}
		consistency, err := protoconv.ParseConsistency(r.Header.Get(HeaderConsistency))
		if err != nil {
			h.fail(w, badRequest("header %s: %v", HeaderConsistency, err))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
		if err != nil {
			if _, ok := err.(*http.MaxBytesError); ok {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes (server flag --max-message-size)", h.opts.MaxBodyBytes))
				return
			}
			h.fail(w, badRequest("reading the request body: %v", err))
			return
		}
		ctx := outgoing(r)
		resp, token, err := c(ctx, tenant, consistency, body)
		if err != nil {
			h.fail(w, err)
			return
		}
		if token != "" {
			w.Header().Set(HeaderToken, token)
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// outgoing carries the caller's credentials and trace context into the gRPC call.
func outgoing(r *http.Request) context.Context {
	var kv []string
	for _, h := range []string{"Authorization", "traceparent", "tracestate", "baggage"} {
		if v := r.Header.Get(h); v != "" {
			kv = append(kv, strings.ToLower(h), v)
		}
	}
	ctx := r.Context()
	if len(kv) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	}
	return ctx
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// fail writes an error: 400 for a request error, otherwise the HTTP status of the gRPC
// code (401, 403, 404, 429 with Retry-After, 503, ...). The body is the error message,
// as the specification's error table gives it.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	if re, ok := err.(*requestError); ok {
		writeError(w, http.StatusBadRequest, re.msg)
		return
	}
	st := status.Convert(err)
	code := httpStatus(st.Code())
	switch st.Code() {
	case codes.Unauthenticated:
		w.Header().Set("WWW-Authenticate", `Bearer realm="pemba"`)
	case codes.ResourceExhausted, codes.Unavailable:
		if d, ok := protoconv.RetryDelay(st); ok {
			w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10))
		}
	}
	writeError(w, code, st.Message())
}

// httpStatus maps a gRPC code to the HTTP status of an error, as the REST gateway
// maps it.
func httpStatus(c codes.Code) int { return runtime.HTTPStatusFromCode(c) }

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "failed to encode the response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

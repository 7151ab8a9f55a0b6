package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ndjsonMarshaler is the gateway's JSON marshaler that labels server streams as what
// they are: newline-delimited JSON, one object per line.
type ndjsonMarshaler struct{ *runtime.JSONPb }

// StreamContentType is the media type of a streamed response.
func (ndjsonMarshaler) StreamContentType(any) string { return "application/x-ndjson" }

// route is one path of the REST API with the methods it answers.
type route struct {
	segments []string // "{...}" matches any one segment
	methods  []string
}

// restRoutes are the REST API's paths and methods, read from the OpenAPI document the
// gateway is generated with, so the Allow header of a 405 cannot disagree with it.
var restRoutes = mustRoutes(pb.OpenAPI)

func mustRoutes(doc []byte) []route {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		panic(fmt.Sprintf("the embedded OpenAPI document does not parse: %v", err))
	}
	var out []route
	for path, ops := range d.Paths {
		r := route{segments: strings.Split(strings.Trim(path, "/"), "/")}
		for m := range ops {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options":
				r.methods = append(r.methods, strings.ToUpper(m))
			}
		}
		slices.Sort(r.methods)
		out = append(out, r)
	}
	return out
}

// allowedMethods lists the methods the REST API answers on path.
func allowedMethods(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var out []string
	for _, r := range restRoutes {
		if len(r.segments) != len(segs) {
			continue
		}
		match := true
		for i, s := range r.segments {
			if !(strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}")) && s != segs[i] {
				match = false
				break
			}
		}
		if match {
			out = append(out, r.methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// routingError answers a request no route takes: 405 with an Allow header when the
// path exists under other methods, 404 when it does not exist at all.
func (s *Server) routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		allowed := allowedMethods(r.URL.Path)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		msg := fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))
		s.writeError(w, m, http.StatusMethodNotAllowed, codes.Unimplemented, msg)
	case http.StatusNotFound:
		s.writeHTTPError(ctx, mux, m, w, r, status.Errorf(codes.NotFound, "no REST route %s %s (GET /openapi.json lists them)", r.Method, r.URL.Path))
	default:
		s.writeHTTPError(ctx, mux, m, w, r, status.Error(codes.InvalidArgument, http.StatusText(httpStatus)))
	}
}

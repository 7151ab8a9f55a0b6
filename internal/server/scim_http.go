package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/scim"
	"github.com/pemba-authz/pemba/internal/scim/filter"
	"github.com/pemba-authz/pemba/internal/write"
)

// scimBasePath is where the SCIM 2.0 endpoints live on the HTTP port.
const scimBasePath = "/scim/v2"

// Bounds of a SCIM request.
const (
	// scimMaxBody is the largest request body.
	scimMaxBody = 1 << 20
	// scimMaxOps is the most operations of one PATCH.
	scimMaxOps = 100
	// scimMaxMembers is the most members one request may add, remove or set.
	scimMaxMembers = 1000
	// scimMaxPage is the most resources of one list page, and the default count.
	scimMaxPage = 1000
	// scimMaxScan is the most resources a filtered list examines.
	scimMaxScan = 200000
)

// scimMediaType is the media type of SCIM bodies.
const scimMediaType = "application/scim+json"

// scimWriter is what SCIM needs of the write path; *write.Writer implements it.
type scimWriter interface {
	CreateScimConnection(ctx context.Context, req write.Request, in write.NewScimConnection) (scim.Connection, string, error)
	ListScimConnections(ctx context.Context, tenant string) ([]scim.Connection, error)
	RotateScimConnection(ctx context.Context, req write.Request, name string) (scim.Connection, string, error)
	RevokeScimConnection(ctx context.Context, req write.Request, name string) (scim.Connection, error)
	SetScimRoleMappings(ctx context.Context, req write.Request, name string, ms []scim.RoleMapping) (scim.Connection, error)
	ScimConnectionByToken(ctx context.Context, token string) (string, scim.Connection, error)
	Provision(ctx context.Context, op write.ScimOperation, fn func(ctx context.Context, p *write.Provisioning) error) (datastore.Revision, error)
	RecordScimRefusal(ctx context.Context, tenant, principal, operation string, refusal error) error
}

// scimCall is one authenticated SCIM request.
type scimCall struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	tenant string
	conn   scim.Connection
	token  string
	base   string // the SCIM base URL, for meta.location
	op     string // the operation, for the audit trail
	// snap is the snapshot of the transaction a change runs in.
	snap datastore.Reader
}

// provisionErr marks an error the write path has already audited.
type provisionErr struct{ error }

func (e provisionErr) Unwrap() error { return e.error }

// routeScim registers the /scim/v2 endpoints.
func (s *Server) routeScim(mux *http.ServeMux) {
	handle := func(pattern, op string, h func(*scimCall) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serveScim(w, r, op, h) })
	}
	handle("GET "+scimBasePath+"/ServiceProviderConfig", "scim.discovery", (*scimCall).serviceProviderConfig)
	handle("GET "+scimBasePath+"/ResourceTypes", "scim.discovery", (*scimCall).resourceTypes)
	handle("GET "+scimBasePath+"/ResourceTypes/{name}", "scim.discovery", (*scimCall).resourceType)
	handle("GET "+scimBasePath+"/Schemas", "scim.discovery", (*scimCall).schemas)
	handle("GET "+scimBasePath+"/Schemas/{id}", "scim.discovery", (*scimCall).schema)
	for _, rt := range []*scim.ResourceType{scim.Users, scim.Groups} {
		rt := rt
		name := strings.ToLower(rt.Endpoint[1:])
		handle("GET "+scimBasePath+rt.Endpoint, "scim."+name+".list", func(c *scimCall) error { return c.list(rt) })
		handle("GET "+scimBasePath+rt.Endpoint+"/{id}", "scim."+name+".get", func(c *scimCall) error { return c.get(rt) })
		handle("POST "+scimBasePath+rt.Endpoint, "scim."+name+".create", func(c *scimCall) error { return c.create(rt) })
		handle("PUT "+scimBasePath+rt.Endpoint+"/{id}", "scim."+name+".replace", func(c *scimCall) error { return c.replace(rt) })
		handle("PATCH "+scimBasePath+rt.Endpoint+"/{id}", "scim."+name+".patch", func(c *scimCall) error { return c.patch(rt) })
		handle("DELETE "+scimBasePath+rt.Endpoint+"/{id}", "scim."+name+".delete", func(c *scimCall) error { return c.delete(rt) })
	}
	unsupported := func(what string) func(*scimCall) error {
		return func(*scimCall) error {
			return scim.Errorf(http.StatusNotImplemented, "", "%s is not supported; see /scim/v2/ServiceProviderConfig", what)
		}
	}
	handle(scimBasePath+"/Bulk", "scim.bulk", unsupported("Bulk"))
	handle("POST "+scimBasePath+"/.search", "scim.search", unsupported("POST .search"))
	handle("POST "+scimBasePath+"/Users/.search", "scim.search", unsupported("POST .search"))
	handle("POST "+scimBasePath+"/Groups/.search", "scim.search", unsupported("POST .search"))
	handle("GET "+scimBasePath+"/Me", "scim.me", unsupported("/Me"))
	handle(scimBasePath+"/", "scim.unknown", func(c *scimCall) error {
		return scim.Errorf(http.StatusNotFound, "", "no SCIM endpoint %s %s", c.r.Method, c.r.URL.Path)
	})
}

// serveScim authenticates a SCIM request by its bearer token, runs h and answers
// errors in the SCIM error schema; refusals are audited in the token's tenant.
func (s *Server) serveScim(w http.ResponseWriter, r *http.Request, op string, h func(*scimCall) error) {
	c := &scimCall{s: s, w: w, r: r, op: op}
	r.Body = http.MaxBytesReader(w, r.Body, scimMaxBody)
	err := c.authenticate()
	if err == nil {
		err = h(c)
	}
	if err == nil {
		return
	}
	se := c.scimError(err)
	var pe provisionErr
	if !errors.As(err, &pe) && se.Status < 500 && c.tenant != "" && r.Context().Err() == nil {
		principal := "scim"
		if c.conn.Name != "" {
			principal = c.conn.Principal()
		}
		if aerr := s.writer.RecordScimRefusal(r.Context(), c.tenant, principal, op, se); aerr != nil {
			s.log.Warn("recording a refused SCIM request in the audit trail failed", "tenant", c.tenant, "error", aerr)
		}
	}
	if se.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pemba-scim"`)
	}
	c.reply(se.Status, se.Body())
}

func (c *scimCall) authenticate() error {
	auth := c.r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return scim.Errorf(http.StatusUnauthorized, "", "send the connection's token as Authorization: Bearer TOKEN")
	}
	token = strings.TrimSpace(token)
	tenant, conn, err := c.s.writer.ScimConnectionByToken(c.r.Context(), token)
	c.tenant = tenant
	if err != nil {
		return err
	}
	c.conn, c.token = conn, token
	c.base = c.baseURL()
	return nil
}

func (c *scimCall) baseURL() string {
	if c.s.cfg.PublicURL != "" {
		return strings.TrimSuffix(c.s.cfg.PublicURL, "/") + scimBasePath
	}
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.r.Host + scimBasePath
}

// scimError turns any error into the SCIM error the client gets.
func (c *scimCall) scimError(err error) *scim.Error {
	var se *scim.Error
	var fe *filter.Error
	var te *write.ScimTokenError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &te):
		return scim.Errorf(http.StatusUnauthorized, "", "%s", te.Reason)
	case errors.As(err, &fe):
		return scim.Errorf(http.StatusBadRequest, fe.Type, "%v", fe)
	case errors.As(err, &tooLarge):
		return scim.Errorf(http.StatusRequestEntityTooLarge, "tooLarge", "the request body is larger than the %d bytes a SCIM request may carry", scimMaxBody)
	case errors.Is(err, datastore.ErrPermissionDenied):
		return scim.Errorf(http.StatusForbidden, "", "%v", err)
	case errors.Is(err, datastore.ErrInvalidArgument):
		return scim.Errorf(http.StatusBadRequest, "invalidValue", "%v", err)
	case errors.Is(err, datastore.ErrResourceExhausted):
		return scim.Errorf(http.StatusTooManyRequests, "", "%v", err)
	case errors.Is(err, datastore.ErrNotFound):
		return scim.Errorf(http.StatusNotFound, "", "%v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return scim.Errorf(http.StatusServiceUnavailable, "", "the request was cancelled")
	}
	c.s.log.Error("SCIM request failed", "op", c.op, "tenant", c.tenant, "error", err)
	return scim.Errorf(http.StatusInternalServerError, "", "internal error")
}

// reply writes a SCIM JSON body.
func (c *scimCall) reply(status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"schemas":["`+scim.ErrorSchema+`"],"status":"500","detail":"encoding the response failed"}`)
	}
	c.w.Header().Set("Content-Type", scimMediaType)
	c.w.WriteHeader(status)
	c.w.Write(data)
}

// written sets the headers of a response to a write: the consistency token of its
// revision, and the resource's version.
func (c *scimCall) written(rev datastore.Revision) {
	c.w.Header().Set(headerPembaToken, c.s.token(c.tenant, rev))
}

// headerPembaToken carries the revision token of a SCIM write's response.
const headerPembaToken = "Pemba-Token"

// body reads the request body as a JSON object.
func (c *scimCall) body() (map[string]any, []byte, error) {
	data, err := io.ReadAll(c.r.Body)
	if err != nil {
		return nil, nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, nil, scim.Errorf(http.StatusBadRequest, "invalidSyntax", "the body is not a JSON object: %v", err)
	}
	if err := checkDepth(m, 0); err != nil {
		return nil, nil, err
	}
	return m, data, nil
}

// checkDepth bounds how deeply a body nests.
func checkDepth(v any, d int) error {
	if d > 8 {
		return scim.Errorf(http.StatusBadRequest, "invalidSyntax", "the body nests more than 8 levels")
	}
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if err := checkDepth(e, d+1); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := checkDepth(e, d+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// intParam reads a positive integer query parameter.
func (c *scimCall) intParam(name string, def int) (int, error) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, scim.Errorf(http.StatusBadRequest, "invalidValue", "%s=%q is not an integer", name, v)
	}
	return n, nil
}

// listParam reads a comma-separated query parameter.
func (c *scimCall) listParam(name string) []string {
	var out []string
	for _, v := range c.r.URL.Query()[name] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// provision runs a change in one transaction through the write path.
func (c *scimCall) provision(reason string, fn func(ctx context.Context, p *write.Provisioning) error) (datastore.Revision, error) {
	rev, err := c.s.writer.Provision(c.r.Context(), write.ScimOperation{Tenant: c.tenant, Connection: c.conn, Token: c.token,
		Operation: c.op, Reason: reason}, fn)
	if err != nil {
		return 0, provisionErr{err}
	}
	return rev, nil
}

// ifMatch checks the If-Match header against a resource's revision.
func (c *scimCall) ifMatch(rev datastore.Revision) error {
	want := c.r.Header.Get("If-Match")
	if want == "" || want == "*" {
		return nil
	}
	cur := scim.Version(rev)
	for _, v := range strings.Split(want, ",") {
		v = strings.TrimSpace(v)
		if v == cur || "W/"+v == cur {
			return nil
		}
	}
	return scim.Errorf(http.StatusPreconditionFailed, "", "If-Match %s does not match the resource's version %s", want, cur)
}

func (s *Server) scimSnapshot(ctx context.Context, tenant string) (datastore.Reader, error) {
	head, err := s.ds.HeadRevision(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return s.ds.SnapshotReader(tenant, head), nil
}

// errResourceNotFound is the 404 of a resource the connection does not have, whether
// it is missing or another connection's.
func errResourceNotFound(rt *scim.ResourceType, id string) error {
	return scim.Errorf(http.StatusNotFound, "", "%s %q not found", rt.Name, id)
}

// loadResource reads a resource of this connection from r.
func (c *scimCall) loadResource(ctx context.Context, r datastore.Reader, rt *scim.ResourceType, id string) (scim.Stored, error) {
	rec, err := r.ReadRecord(ctx, rt.Kind(), id)
	if errors.Is(err, datastore.ErrNotFound) || (err != nil && errors.Is(err, datastore.ErrInvalidArgument)) {
		return scim.Stored{}, errResourceNotFound(rt, id)
	}
	if err != nil {
		return scim.Stored{}, err
	}
	st, err := scim.Decode(rec)
	if err != nil {
		return scim.Stored{}, err
	}
	if st.Connection != c.conn.Name {
		return scim.Stored{}, errResourceNotFound(rt, id)
	}
	return st, nil
}

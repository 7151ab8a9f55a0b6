package apidoc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/serve"
	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

const (
	adminSecret  = "admin-secret-0001"
	readerSecret = "reader-secret-0002"
)

const testSchema = `definition user {}
definition document {
	relation viewer: user
	permission view = viewer
}`

// startServer runs the real server (gRPC and REST) on loopback ports over the memory
// store, with an admin and a reader key. These tests live here rather than beside the
// server so the validator, a large library, stays out of the server's fuzzing binary.
func startServer(t *testing.T) string {
	t.Helper()
	st, err := serve.NewStack(memory.New(datastore.Options{}), serve.StackOptions{Server: server.Config{
		GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		Keys: []server.Key{
			server.NewKey("admin", server.RoleAdmin, nil, adminSecret),
			server.NewKey("reader", server.RoleReader, nil, readerSecret),
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := st.Server.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		st.Close()
	})
	return "http://" + st.Server.HTTPAddr()
}

// exchange is one REST request, replayable for the validator.
type exchange struct {
	method, path, secret, body string
}

func (e exchange) request(t *testing.T, base string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(e.method, base+e.path, strings.NewReader(e.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if e.secret != "" {
		req.Header.Set("Authorization", "Bearer "+e.secret)
	}
	return req
}

// do sends the request and returns a fresh copy of it (for the validator), the
// response and its body.
func (e exchange) do(t *testing.T, base string) (*http.Request, *http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(e.request(t, base))
	if err != nil {
		t.Fatalf("%s %s: %v", e.method, e.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return e.request(t, base), resp, raw
}

// Real answers of the server, successes, errors and streams, conform to the OpenAPI
// document it serves.
func TestRESTAnswersMatchTheOpenAPIDocument(t *testing.T) {
	doc, err := libopenapi.NewDocument(pb.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	base := startServer(t)
	schema, _ := json.Marshal(map[string]string{"schema": testSchema})
	for _, setup := range []exchange{
		{"POST", "/v1/schema/write", adminSecret, string(schema)},
		{"POST", "/v1/relationships/write", adminSecret, `{"updates":[{"operation":"OPERATION_TOUCH","relationship":{"resource":{"type":"document","id":"d1"},"relation":"viewer","subject":{"type":"user","id":"ann"}}}]}`},
	} {
		if _, resp, raw := setup.do(t, base); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", setup.path, resp.StatusCode, raw)
		}
	}
	check := `{"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"ann"}}`

	unary := []struct {
		exchange
		status int
	}{
		{exchange{"POST", "/v1/permissions/check", readerSecret, check}, http.StatusOK},
		{exchange{"POST", "/v1/permissions/check", "", check}, http.StatusUnauthorized},
		{exchange{"POST", "/v1/permissions/check", readerSecret, `{"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user"}}`}, http.StatusBadRequest},
		{exchange{"POST", "/v1/relationships/write", readerSecret, `{"updates":[]}`}, http.StatusForbidden},
		{exchange{"GET", "/v1/tenants", adminSecret, ""}, http.StatusOK},
		{exchange{"DELETE", "/v1/tenants/no-such-tenant", adminSecret, ""}, http.StatusNotFound},
		// Streams that fail before their first line.
		{exchange{"POST", "/v1/relationships/read", readerSecret, `{"tenant":"nope","filter":{"resource_type":"document"}}`}, http.StatusNotFound},
		{exchange{"POST", "/v1/relationships/read", "", `{"filter":{"resource_type":"document"}}`}, http.StatusUnauthorized},
	}
	for _, c := range unary {
		req, resp, raw := c.do(t, base)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, raw)
			continue
		}
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		validate := v.ValidateHttpRequestResponse
		if c.secret == "" { // the request breaks the document on purpose: only the answer is checked
			validate = v.ValidateHttpResponse
		}
		if ok, verrs := validate(req, resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s (%d): %s: %s", c.method, c.path, resp.StatusCode, e.Message, e.Reason)
			}
		}
	}

	// A stream is newline-delimited JSON, and each line is what the document says.
	read := exchange{"POST", "/v1/relationships/read", readerSecret, `{"filter":{"resource_type":"document"}}`}
	req, resp, raw := read.do(t, base)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("read: %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) == 0 || !strings.Contains(lines[0], `"result"`) {
		t.Fatalf("read answered %q", raw)
	}
	for _, line := range lines {
		one := *resp
		one.Body = io.NopCloser(strings.NewReader(line))
		one.Header = resp.Header.Clone()
		one.Header.Del("Transfer-Encoding")
		if ok, verrs := v.ValidateHttpResponse(req, &one); !ok {
			for _, e := range verrs {
				t.Errorf("stream line %s: %s: %s", line, e.Message, e.Reason)
			}
		}
	}
}

package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestOpenAPIServed(t *testing.T) {
	ts := startServer(t, nil)
	resp, raw := ts.restResponse(t, "GET", "/openapi.json", "", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(raw, pb.OpenAPI) {
		t.Fatal("the served document is not the committed one")
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/permissions/check", "/v1/relationships/write", "/v1/watch", "/v1/tenants", "/v1/governance/offboard"} {
		if doc.Paths[p] == nil {
			t.Errorf("the OpenAPI document has no %s", p)
		}
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
}

// exchange is one REST request and its answer, replayable for the validator.
type exchange struct {
	method, path, secret, body string
}

func (e exchange) do(t *testing.T, ts *testServer) (*http.Request, *http.Response, []byte) {
	t.Helper()
	resp, raw := ts.restResponse(t, e.method, e.path, e.secret, e.body)
	req, err := http.NewRequest(e.method, ts.base+e.path, strings.NewReader(e.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if e.secret != "" {
		req.Header.Set("Authorization", "Bearer "+e.secret)
	}
	return req, resp, raw
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
	ts := startServer(t, nil)
	ts.writeSchema(t, "")
	ts.rest(t, "POST", "/v1/relationships/write", adminSecret, `{"updates":[{"operation":"OPERATION_TOUCH","relationship":{"resource":{"type":"document","id":"d1"},"relation":"viewer","subject":{"type":"user","id":"ann"}}}]}`)
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
		req, resp, raw := c.do(t, ts)
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
	req, resp, raw := read.do(t, ts)
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

// A known path under the wrong method is 405 with the allowed methods, an unknown path
// 404, each with the Error body.
func TestRESTWrongMethodIs405(t *testing.T) {
	ts := startServer(t, nil)
	for _, c := range []struct {
		method, path string
		status       int
		allow, msg   string
	}{
		{"GET", "/v1/permissions/check", http.StatusMethodNotAllowed, "POST", "GET is not allowed on /v1/permissions/check; use POST"},
		{"PUT", "/v1/tenants", http.StatusMethodNotAllowed, "GET, POST", "use GET or POST"},
		{"GET", "/v1/tenants/acme", http.StatusMethodNotAllowed, "DELETE", "use DELETE"},
		{"GET", "/v1/no-such-route", http.StatusNotFound, "", "no REST route GET /v1/no-such-route"},
	} {
		resp, raw := ts.restResponse(t, c.method, c.path, readerSecret, "")
		var body pb.Error
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("%s %s: body %s: %v", c.method, c.path, raw, err)
		}
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || !strings.Contains(body.Message, c.msg) {
			t.Errorf("%s %s: %d Allow %q %q, want %d Allow %q and %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), body.Message, c.status, c.allow, c.msg)
		}
	}
}

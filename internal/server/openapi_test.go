package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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

package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fuzzRoutes are the REST routes whose JSON bodies FuzzRESTBodies sends. Watch is left
// out: it streams until the client goes away.
var fuzzRoutes = []string{
	"/v1/permissions/check", "/v1/permissions/checkbulk", "/v1/permissions/expand",
	"/v1/permissions/resources", "/v1/permissions/subjects", "/v1/permissions/list",
	"/v1/relationships/write", "/v1/relationships/delete", "/v1/relationships/read",
	"/v1/relationships/import", "/v1/relationships/export", "/v1/schema/write",
	"/v1/schema/read", "/v1/audit/read", "/v1/governance/offboard",
	"/v1/governance/actor-grants", "/v1/governance/access-review", "/v1/tenants",
}

// FuzzRESTBodies posts arbitrary JSON bodies to the real server's REST gateway. Every
// answer must be a success or an error the caller caused: never a 5xx (a panic or an
// unexpected error is INTERNAL), and every error body is the documented JSON error.
func FuzzRESTBodies(f *testing.F) {
	ts := startServer(f, quietLogs)
	ts.writeSchema(f, "")
	ts.touch(f, "", "document:q3#viewer@user:alice", "document:q3#org@organization:acme", "organization:acme#admin@user:erin")
	seeds := []string{
		`{"resource":{"type":"document","id":"q3"},"permission":"view","subject":{"type":"user","id":"alice"}}`,
		`{"items":[{"resource":{"type":"document","id":"q3"},"permission":"view","subject":{"type":"user","id":"alice"}}]}`,
		`{"resource_type":"document","permission":"view","subject":{"type":"user","id":"alice"},"limit":3}`,
		`{"updates":[{"operation":"OPERATION_TOUCH","relationship":{"resource":{"type":"document","id":"d1"},"relation":"viewer","subject":{"type":"user","id":"bob"}}}]}`,
		`{"filter":{"resource_type":"document","subject_filter":{"type":"user","ids":["alice"],"relations":["..."]}}}`,
		`{"consistency":{"at_least_as_fresh":"pt1_AAAA"},"resource":{"type":"document","id":"q3"},"permission":"view","subject":{"type":"user","id":"alice"}}`,
		`{"schema":"definition user {}"}`,
		`{"subject":{"type":"user","id":"alice"},"organization":{"type":"organization","id":"acme"},"reason":"x"}`,
		`{"actor":{"type":"user","id":"erin"},"page_size":1}`,
		`{"relationships":[{"resource":{"type":"document","id":"d2"},"relation":"viewer","subject":{"type":"user","id":"*"}}]}`,
	}
	for i, s := range seeds {
		for r := range fuzzRoutes {
			if r%len(seeds) == i%len(fuzzRoutes) || strings.Contains(s, "schema") == strings.Contains(fuzzRoutes[r], "schema") {
				f.Add(uint8(r), s)
			}
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req, err := http.NewRequest("POST", ts.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("POST %s: reading the answer: %v", path, err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 && !isErrorBody(raw) {
			t.Fatalf("POST %s %q: error body is not the JSON error: %d %s", path, body, resp.StatusCode, raw)
		}
	})
}

// isErrorBody reports whether a REST error answer has one of the documented shapes: a
// pemba.v1.Error, or for a stream the line {"error": {"code", "message", "details"}}.
func isErrorBody(raw []byte) bool {
	type errorJSON struct {
		Code    *int    `json:"code"`
		Status  string  `json:"status"`
		Message *string `json:"message"`
	}
	var unary errorJSON
	if json.Unmarshal(raw, &unary) == nil && unary.Code != nil && unary.Status != "" && unary.Message != nil {
		return true
	}
	var stream struct {
		Error *errorJSON `json:"error"`
	}
	return json.Unmarshal(raw, &stream) == nil && stream.Error != nil && stream.Error.Code != nil && stream.Error.Message != nil
}

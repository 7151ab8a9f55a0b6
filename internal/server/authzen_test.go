package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/server"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// The AuthZEN tests send the requests of the Authorization API 1.0 specification's
// examples to a real server and compare the answers with the specification's
// responses, over data written so that each example's answer is the one the
// specification shows. Ids outside Pemba's id alphabet are written in their escaped
// form (alice@example.com is alice=40example=2Ecom).

const (
	alice = "user:alice=40example=2Ecom"
	bob   = "user:bob=40example=2Ecom"
)

// startAuthZEN starts a server with the AuthZEN schema and the examples' data in the
// default tenant, and the paging example's data in tenant "paging".
func startAuthZEN(t *testing.T, edit func(*server.Config)) *testServer {
	t.Helper()
	ts := startServer(t, edit)
	text, err := os.ReadFile("testdata/authzen.zed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.tenants().CreateTenant(as(adminSecret), &pb.CreateTenantRequest{Tenant: "paging"}); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"", "paging"} {
		if _, err := ts.schemas().WriteSchema(as(adminSecret), &pb.WriteSchemaRequest{Tenant: tenant, Schema: string(text)}); err != nil {
			t.Fatalf("WriteSchema(%q): %v", tenant, err)
		}
	}
	ts.touch(t, "",
		"account:123#owner_org@organization:acme",
		"organization:acme#admin@"+alice,
		"account:123#reader@"+bob,
		"account:456#reader@"+alice,
		"todo:1#reader@"+alice,
		"document:boxcarring=2Emd#reader@"+alice,
		"document:resource-search=2Emd#editor@"+alice,
		"document:1#reader@"+alice,
		"document:3#reader@"+alice,
		"document:sales-plan#reader@"+alice+"[in_department]",
		"document:floor-plan#editor@"+alice+"[from_office]",
		"book:123#borrower@"+alice,
	)
	ts.touch(t, "paging",
		"account:123#reader@"+alice,
		"account:456#reader@"+alice,
		"account:789#reader@"+alice,
	)
	return ts
}

// authzen posts an AuthZEN request with the reader key and returns the response and
// its body.
func (ts *testServer) authzen(t *testing.T, path, secret, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// sameJSON fails unless got and want are the same JSON value.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if d := cmp.Diff(w, g); d != "" {
		t.Errorf("response differs (-want +got):\n%s", d)
	}
}

func TestAuthZENSpecificationExamples(t *testing.T) {
	ts := startAuthZEN(t, nil)
	cases := []struct {
		name, path, body, want string
	}{
		{
			name: "access evaluation request example",
			path: "/access/v1/evaluation",
			body: `{"subject":{"type":"user","id":"alice@example.com"},
				"resource":{"type":"account","id":"123"},
				"action":{"name":"can_read","properties":{"method":"GET"}},
				"context":{"time":"1985-10-26T01:22-07:00"}}`,
			want: `{"decision":true}`,
		},
		{
			name: "HTTPS access evaluation example",
			path: "/access/v1/evaluation",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"todo","id":"1"},
				"action":{"name":"can_read"},"context":{"time":"1985-10-26T01:22-07:00"}}`,
			want: `{"decision":true}`,
		},
		{
			name: "subject with a department property (the caveat reads it)",
			path: "/access/v1/evaluation",
			body: `{"subject":{"type":"user","id":"alice@example.com","properties":{"department":"Sales"}},
				"resource":{"type":"document","id":"sales-plan"},"action":{"name":"can_read"}}`,
			want: `{"decision":true}`,
		},
		{
			name: "subject with IP address and device id properties",
			path: "/access/v1/evaluation",
			body: `{"subject":{"type":"user","id":"alice@example.com","properties":{"ip_address":"172.217.22.14","device_id":"8:65:ee:17:7e:0b"}},
				"resource":{"type":"document","id":"floor-plan"},"action":{"name":"can_edit"}}`,
			want: `{"decision":true}`,
		},
		{
			name: "resource with a structured property",
			path: "/access/v1/evaluation",
			body: `{"subject":{"type":"user","id":"alice@example.com"},
				"resource":{"type":"book","id":"123","properties":{"library_record":{"title":"AuthZEN in Action","isbn":"978-0593383322"}}},
				"action":{"name":"extend_loan","properties":{"period":"2W"}}}`,
			want: `{"decision":true}`,
		},
		{
			name: "context with a schema reference",
			path: "/access/v1/evaluation",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"account","id":"456"},
				"action":{"name":"can_read"},
				"context":{"time":"1985-10-26T01:22-07:00","schema":"https://schema.example.com/access-request.schema.json"}}`,
			want: `{"decision":true}`,
		},
		{
			name: "three evaluations without default values",
			path: "/access/v1/evaluations",
			body: `{"evaluations":[
				{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"can_read"},"resource":{"type":"document","id":"boxcarring.md"},"context":{"time":"2024-05-31T15:22-07:00"}},
				{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"can_read"},"resource":{"type":"document","id":"subject-search.md"},"context":{"time":"2024-05-31T15:22-07:00"}},
				{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"can_read"},"resource":{"type":"document","id":"resource-search.md"},"context":{"time":"2024-05-31T15:22-07:00"}}]}`,
			want: `{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}`,
		},
		{
			name: "default subject and context",
			path: "/access/v1/evaluations",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"context":{"time":"2024-05-31T15:22-07:00"},
				"evaluations":[
				{"action":{"name":"can_read"},"resource":{"type":"document","id":"boxcarring.md"}},
				{"action":{"name":"can_read"},"resource":{"type":"document","id":"subject-search.md"}},
				{"action":{"name":"can_read"},"resource":{"type":"document","id":"resource-search.md"}}]}`,
			want: `{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}`,
		},
		{
			name: "default action overridden by the third evaluation (also the HTTPS example)",
			path: "/access/v1/evaluations",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"context":{"time":"2024-05-31T15:22-07:00"},
				"action":{"name":"can_read"},
				"evaluations":[
				{"resource":{"type":"document","id":"boxcarring.md"}},
				{"resource":{"type":"document","id":"subject-search.md"}},
				{"action":{"name":"can_edit"},"resource":{"type":"document","id":"resource-search.md"}}]}`,
			want: `{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}`,
		},
		{
			name: "execute_all",
			path: "/access/v1/evaluations",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"read"},
				"options":{"evaluations_semantic":"execute_all"},
				"evaluations":[{"resource":{"type":"document","id":"1"}},{"resource":{"type":"document","id":"2"}},{"resource":{"type":"document","id":"3"}}]}`,
			want: `{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}`,
		},
		{
			name: "deny_on_first_deny",
			path: "/access/v1/evaluations",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"read"},
				"options":{"evaluations_semantic":"deny_on_first_deny"},
				"evaluations":[{"resource":{"type":"document","id":"1"}},{"resource":{"type":"document","id":"2"}},{"resource":{"type":"document","id":"3"}}]}`,
			want: `{"evaluations":[{"decision":true},{"decision":false,"context":{"code":"200","reason":"deny_on_first_deny"}}]}`,
		},
		{
			name: "permit_on_first_permit",
			path: "/access/v1/evaluations",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"read"},
				"options":{"evaluations_semantic":"permit_on_first_permit"},
				"evaluations":[{"resource":{"type":"document","id":"1"}},{"resource":{"type":"document","id":"2"}},{"resource":{"type":"document","id":"3"}}]}`,
			want: `{"evaluations":[{"decision":true}]}`,
		},
		{
			name: "evaluations with an unknown option beside the semantic",
			path: "/access/v1/evaluations",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"read"},
				"options":{"evaluations_semantic":"execute_all","another_option":"value"},
				"evaluations":[{"resource":{"type":"document","id":"2"}}]}`,
			want: `{"evaluations":[{"decision":false}]}`,
		},
		{
			name: "evaluations request without evaluations is a single evaluation",
			path: "/access/v1/evaluations",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"}}`,
			want: `{"decision":true}`,
		},
		{
			name: "subject search example",
			path: "/access/v1/search/subject",
			body: `{"subject":{"type":"user"},"action":{"name":"can_read"},"resource":{"type":"account","id":"123"},
				"context":{"time":"2024-10-26T01:22-07:00"}}`,
			want: `{"page":{"next_token":"","count":2},"results":[{"type":"user","id":"alice@example.com"},{"type":"user","id":"bob@example.com"}]}`,
		},
		{
			name: "subject search with an id, which is ignored",
			path: "/access/v1/search/subject",
			body: `{"subject":{"type":"user","id":"nobody"},"action":{"name":"can_read"},"resource":{"type":"account","id":"123"}}`,
			want: `{"page":{"next_token":"","count":2},"results":[{"type":"user","id":"alice@example.com"},{"type":"user","id":"bob@example.com"}]}`,
		},
		{
			name: "resource search example",
			path: "/access/v1/search/resource",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"can_read"},"resource":{"type":"account"}}`,
			want: `{"page":{"next_token":"","count":2},"results":[{"type":"account","id":"123"},{"type":"account","id":"456"}]}`,
		},
		{
			name: "action search example",
			path: "/access/v1/search/action",
			body: `{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"account","id":"123"},
				"context":{"time":"2024-10-26T01:22-07:00"}}`,
			want: `{"page":{"next_token":"","count":2},"results":[{"name":"can_read"},{"name":"can_write"}]}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := ts.authzen(t, c.path, readerSecret, c.body, "X-Request-ID", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if id := resp.Header.Get("X-Request-ID"); id != "bfe9eb29-ab87-4ca3-be83-a1d5d8305716" {
				t.Errorf("X-Request-ID %q, want the request's", id)
			}
			if resp.Header.Get("Pemba-Token") == "" {
				t.Error("no Pemba-Token header")
			}
			sameJSON(t, body, c.want)
		})
	}
}

func TestAuthZENPagination(t *testing.T) {
	ts := startAuthZEN(t, nil)
	first := `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"can_read"},"resource":{"type":"account"},"page":{"limit":2}}`
	resp, body := ts.authzen(t, "/paging/access/v1/search/resource", readerSecret, first)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var page1 struct {
		Page struct {
			NextToken string `json:"next_token"`
			Count     int    `json:"count"`
		} `json:"page"`
		Results []map[string]string `json:"results"`
	}
	if err := json.Unmarshal(body, &page1); err != nil {
		t.Fatal(err)
	}
	if page1.Page.NextToken == "" || page1.Page.Count != 2 {
		t.Fatalf("first page: %s", body)
	}
	want1 := []map[string]string{{"type": "account", "id": "123"}, {"type": "account", "id": "456"}}
	if d := cmp.Diff(want1, page1.Results); d != "" {
		t.Errorf("first page (-want +got):\n%s", d)
	}

	// A write between pages: the second page reads at the first page's snapshot.
	ts.touch(t, "paging", "account:999#reader@"+alice)

	second := `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"can_read"},"resource":{"type":"account"},"page":{"token":"` + page1.Page.NextToken + `","limit":2}}`
	resp, body = ts.authzen(t, "/paging/access/v1/search/resource", readerSecret, second)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	sameJSON(t, body, `{"page":{"next_token":"","count":1},"results":[{"type":"account","id":"789"}]}`)

	// The token belongs to its request: another limit, another action, a forged token.
	for name, req := range map[string]string{
		"other limit":  strings.Replace(second, `"limit":2`, `"limit":3`, 1),
		"other action": strings.Replace(second, `can_read`, `can_write`, 1),
		"forged token": strings.Replace(second, page1.Page.NextToken, "a3M9NDU2O3N6PTI=", 1),
	} {
		resp, body := ts.authzen(t, "/paging/access/v1/search/resource", readerSecret, req)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "page.token") {
			t.Errorf("%s: status %d %q, want 400 naming page.token", name, resp.StatusCode, body)
		}
	}

	// Subject and action search page the same way.
	resp, body = ts.authzen(t, "/access/v1/search/subject", readerSecret,
		`{"subject":{"type":"user"},"action":{"name":"can_read"},"resource":{"type":"account","id":"123"},"page":{"limit":1}}`)
	var sp struct {
		Page struct {
			NextToken string `json:"next_token"`
		} `json:"page"`
	}
	json.Unmarshal(body, &sp)
	if resp.StatusCode != http.StatusOK || sp.Page.NextToken == "" {
		t.Fatalf("subject search page 1: %d %s", resp.StatusCode, body)
	}
	_, body = ts.authzen(t, "/access/v1/search/subject", readerSecret,
		`{"subject":{"type":"user"},"action":{"name":"can_read"},"resource":{"type":"account","id":"123"},"page":{"limit":1,"token":"`+sp.Page.NextToken+`"}}`)
	sameJSON(t, body, `{"page":{"next_token":"","count":1},"results":[{"type":"user","id":"bob@example.com"}]}`)

	resp, body = ts.authzen(t, "/access/v1/search/action", readerSecret,
		`{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"account","id":"123"},"page":{"limit":1}}`)
	json.Unmarshal(body, &sp)
	if resp.StatusCode != http.StatusOK || sp.Page.NextToken == "" {
		t.Fatalf("action search page 1: %d %s", resp.StatusCode, body)
	}
	_, body = ts.authzen(t, "/access/v1/search/action", readerSecret,
		`{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"account","id":"123"},"page":{"limit":1,"token":"`+sp.Page.NextToken+`"}}`)
	sameJSON(t, body, `{"page":{"next_token":"","count":1},"results":[{"name":"can_write"}]}`)
}

func TestAuthZENMetadata(t *testing.T) {
	ts := startAuthZEN(t, nil)
	get := func(base, path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
		}
		return resp.StatusCode, raw
	}
	meta := func(base string) string {
		return `{"policy_decision_point":"` + base + `",
			"access_evaluation_endpoint":"` + base + `/access/v1/evaluation",
			"access_evaluations_endpoint":"` + base + `/access/v1/evaluations",
			"search_subject_endpoint":"` + base + `/access/v1/search/subject",
			"search_resource_endpoint":"` + base + `/access/v1/search/resource",
			"search_action_endpoint":"` + base + `/access/v1/search/action"}`
	}
	code, body := get(ts.base, "/.well-known/authzen-configuration")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	sameJSON(t, body, meta(ts.base))
	code, body = get(ts.base, "/.well-known/authzen-configuration/paging")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	sameJSON(t, body, meta(ts.base+"/paging"))

	// Every endpoint the document names answers at that URL.
	var doc map[string]string
	json.Unmarshal(body, &doc)
	resp, raw := ts.authzen(t, strings.TrimPrefix(doc["access_evaluation_endpoint"], ts.base), readerSecret,
		`{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"account","id":"789"},"action":{"name":"can_read"}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tenant endpoint: %d %s", resp.StatusCode, raw)
	}
	sameJSON(t, raw, `{"decision":true}`)

	// Behind a proxy the configured public URL is named instead.
	pub := startServer(t, func(c *server.Config) { c.PublicURL = "https://pdp.example.com/" })
	code, body = get(pub.base, "/.well-known/authzen-configuration")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	sameJSON(t, body, meta("https://pdp.example.com"))
}

func TestAuthZENErrors(t *testing.T) {
	ts := startAuthZEN(t, nil)
	eval := `{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"}}`
	cases := []struct {
		name, path, secret, body string
		headers                  []string
		status                   int
		fragments                []string
	}{
		{"no key", "/access/v1/evaluation", "", eval, nil, 401, []string{"authorization"}},
		{"wrong key", "/access/v1/evaluation", "not-a-key", eval, nil, 401, nil},
		{"tenant-limited key on another tenant", "/paging/access/v1/evaluation", tenantASecret, eval, nil, 403, []string{"paging"}},
		{"tenant that does not exist", "/nosuchtenant/access/v1/evaluation", adminSecret, eval, nil, 404, []string{"nosuchtenant"}},
		{"not JSON", "/access/v1/evaluation", readerSecret, `{"subject":`, nil, 400, []string{"JSON"}},
		{"an array, not an object", "/access/v1/evaluation", readerSecret, `[1,2]`, nil, 400, []string{"JSON object"}},
		{"two values", "/access/v1/evaluation", readerSecret, eval + eval, nil, 400, []string{"more than one"}},
		{"missing subject", "/access/v1/evaluation", readerSecret, `{"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"}}`, nil, 400, []string{"subject is required"}},
		{"missing subject id", "/access/v1/evaluation", readerSecret, `{"subject":{"type":"user"},"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"}}`, nil, 400, []string{"subject.id is required"}},
		{"missing action", "/access/v1/evaluation", readerSecret, `{"subject":{"type":"user","id":"a"},"resource":{"type":"todo","id":"1"}}`, nil, 400, []string{"action is required"}},
		{"missing action name", "/access/v1/evaluation", readerSecret, `{"subject":{"type":"user","id":"a"},"resource":{"type":"todo","id":"1"},"action":{}}`, nil, 400, []string{"action.name is required"}},
		{"missing resource type", "/access/v1/evaluation", readerSecret, `{"subject":{"type":"user","id":"a"},"resource":{"id":"1"},"action":{"name":"can_read"}}`, nil, 400, []string{"resource.type is required"}},
		{"action name outside the schema's alphabet", "/access/v1/evaluation", readerSecret,
			`{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"book","id":"123"},"action":{"name":"extend-loan","properties":{"period":"2W"}}}`, nil, 400, []string{"action.name"}},
		{"action the schema does not define", "/access/v1/evaluation", readerSecret,
			`{"subject":{"type":"user","id":"a"},"resource":{"type":"todo","id":"1"},"action":{"name":"can_fly"}}`, nil, 400, []string{"can_fly"}},
		{"a context key given twice with different values", "/access/v1/evaluation", readerSecret,
			`{"subject":{"type":"user","id":"a","properties":{"department":"Sales"}},"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"},"context":{"department":"Eng"}}`, nil, 400, []string{"department", "subject.properties", "context"}},
		{"subject relation not a string", "/access/v1/evaluation", readerSecret,
			`{"subject":{"type":"group","id":"eng","properties":{"relation":3}},"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"}}`, nil, 400, []string{"subject.properties.relation"}},
		{"wrong media type", "/access/v1/evaluation", readerSecret, eval, []string{"Content-Type", "text/plain"}, 400, []string{"application/json"}},
		{"bad consistency header", "/access/v1/evaluation", readerSecret, eval, []string{"Pemba-Consistency", "eventually"}, 400, []string{"Pemba-Consistency"}},
		{"nesting too deep", "/access/v1/evaluation", readerSecret,
			`{"subject":{"type":"user","id":"a"},"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"},"context":{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, nil, 400, []string{"nests deeper"}},
		{"evaluations semantic unknown", "/access/v1/evaluations", readerSecret,
			`{"subject":{"type":"user","id":"a"},"action":{"name":"can_read"},"options":{"evaluations_semantic":"first_wins"},"evaluations":[{"resource":{"type":"todo","id":"1"}}]}`, nil, 400, []string{"evaluations_semantic"}},
		{"options example without an action anywhere", "/access/v1/evaluations", readerSecret,
			`{"evaluations":[{"resource":{"type":"doc","id":"1"},"subject":{"type":"doc","id":"2"}}],"options":{"evaluations_semantic":"execute_all","another_option":"value"}}`, nil, 400, []string{"evaluations[0].action is required"}},
		{"negative page limit", "/access/v1/search/resource", readerSecret,
			`{"subject":{"type":"user","id":"a"},"action":{"name":"can_read"},"resource":{"type":"todo"},"page":{"limit":-1}}`, nil, 400, []string{"page.limit"}},
		{"subject search without a subject type", "/access/v1/search/subject", readerSecret,
			`{"subject":{},"action":{"name":"can_read"},"resource":{"type":"todo","id":"1"}}`, nil, 400, []string{"subject.type is required"}},
		{"resource search without an action", "/access/v1/search/resource", readerSecret,
			`{"subject":{"type":"user","id":"a"},"resource":{"type":"todo"}}`, nil, 400, []string{"action is required"}},
		{"action search without a resource id", "/access/v1/search/action", readerSecret,
			`{"subject":{"type":"user","id":"a"},"resource":{"type":"todo"}}`, nil, 400, []string{"resource.id is required"}},
		{"body over the size limit", "/access/v1/evaluation", readerSecret,
			`{"subject":{"type":"user","id":"a"},"resource":{"type":"todo","id":"1"},"action":{"name":"can_read"},"context":{"a":"` + strings.Repeat("x", 5<<20) + `"}}`, nil, 413, []string{"limit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := ts.authzen(t, c.path, c.secret, c.body, c.headers...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, c.status)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("Content-Type %q, want the error message as text", resp.Header.Get("Content-Type"))
			}
			for _, f := range c.fragments {
				if !strings.Contains(strings.ToLower(string(body)), strings.ToLower(f)) {
					t.Errorf("message %q does not contain %q", body, f)
				}
			}
			if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	// A GET on an evaluation endpoint is 405 naming POST.
	resp, err := http.Get(ts.base + "/access/v1/evaluation")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("GET: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestAuthZENEvaluationErrorsAndConditions(t *testing.T) {
	ts := startAuthZEN(t, nil)
	// An evaluation that cannot be made is denied with its error, and the others are
	// still answered.
	resp, body := ts.authzen(t, "/access/v1/evaluations", readerSecret,
		`{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"can_read"},
		"evaluations":[{"resource":{"type":"todo","id":"1"}},{"resource":{"type":"spaceship","id":"1"}},{"resource":{"type":"document","id":"2"}}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Evaluations []struct {
			Decision bool `json:"decision"`
			Context  struct {
				Error struct {
					Status  int    `json:"status"`
					Message string `json:"message"`
				} `json:"error"`
			} `json:"context"`
		} `json:"evaluations"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Evaluations) != 3 || !got.Evaluations[0].Decision || got.Evaluations[1].Decision || got.Evaluations[2].Decision {
		t.Fatalf("decisions: %s", body)
	}
	if e := got.Evaluations[1].Context.Error; e.Status != 400 || !strings.Contains(e.Message, "evaluations[1]") {
		t.Errorf("error of the bad evaluation: %+v", e)
	}

	// A caveat that needs context the request did not give: denied, naming it.
	_, body = ts.authzen(t, "/access/v1/evaluation", readerSecret,
		`{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"document","id":"sales-plan"},"action":{"name":"can_read"}}`)
	sameJSON(t, body, `{"decision":false,"context":{"reason":"the answer depends on context the request did not give","missing_context":["department"]}}`)
	// The same with a property that fails the caveat: denied.
	_, body = ts.authzen(t, "/access/v1/evaluation", readerSecret,
		`{"subject":{"type":"user","id":"alice@example.com","properties":{"department":"Eng"}},"resource":{"type":"document","id":"sales-plan"},"action":{"name":"can_read"}}`)
	sameJSON(t, body, `{"decision":false}`)
	// A subject set through subject.properties.relation.
	ts.touch(t, "", "group:eng#member@"+bob, "document:design#reader@group:eng#member")
	_, body = ts.authzen(t, "/access/v1/search/subject", readerSecret,
		`{"subject":{"type":"group","properties":{"relation":"member"}},"action":{"name":"can_read"},"resource":{"type":"document","id":"design"}}`,
		"Pemba-Consistency", "fully_consistent")
	sameJSON(t, body, `{"page":{"next_token":"","count":1},"results":[{"type":"group","id":"eng","properties":{"relation":"member"}}]}`)
}

func TestAuthZENConsistencyAndPipeline(t *testing.T) {
	ts := startAuthZEN(t, nil)
	token := ts.touch(t, "", "todo:fresh#reader@"+alice)
	resp, body := ts.authzen(t, "/access/v1/evaluation", readerSecret,
		`{"subject":{"type":"user","id":"alice@example.com"},"resource":{"type":"todo","id":"fresh"},"action":{"name":"can_read"}}`,
		"Pemba-Consistency", "at_least_as_fresh:"+token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	sameJSON(t, body, `{"decision":true}`)
	if resp.Header.Get("Pemba-Token") == "" {
		t.Error("no Pemba-Token")
	}

	// The calls went through the gRPC pipeline: they are counted per RPC.
	res, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	metrics, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(metrics), `pemba_grpc_requests_total{code="OK",method="pemba.v1.PermissionService/Check",transport="rest"}`) {
		t.Errorf("no Check counted in /metrics")
	}
}

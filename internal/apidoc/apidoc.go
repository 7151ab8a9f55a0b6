// Package apidoc turns the Swagger 2.0 description that protoc-gen-openapiv2 writes
// for the REST gateway into the OpenAPI 3.1 document Pemba serves at /openapi.json.
//
// The conversion is kin-openapi's (openapi2conv), followed by what the generator
// cannot know: every error status the gateway answers with and its body, that server
// streams answer newline-delimited JSON, the Retry-After header of a quota refusal, and
// the 3.1 schema dialect. The result is committed beside the protos; a test and CI
// regenerate it and fail when it is stale.
package apidoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
)

// NDJSON is the media type of a server stream's body: one JSON object per line.
const NDJSON = "application/x-ndjson"

// Version is the OpenAPI version of the converted document.
const Version = "3.1.0"

// importOperation is the one client stream of the REST API: its body is a sequence of
// request messages, one per line. Swagger 2.0 cannot say so, so it is named here.
const importOperation = "RelationshipService_ImportRelationships"

const (
	errorSchema       = "#/components/schemas/v1Error"
	streamErrorSchema = "StreamError"
	streamTitle       = "Stream result of "
)

// Convert reads a Swagger 2.0 document and returns the OpenAPI 3.1 document as
// indented JSON with sorted keys, so regenerating it gives the same bytes.
func Convert(swagger []byte) ([]byte, error) {
	var doc2 openapi2.T
	if err := json.Unmarshal(swagger, &doc2); err != nil {
		return nil, fmt.Errorf("reading the Swagger 2.0 document: %w", err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("converting to OpenAPI 3: %w", err)
	}
	doc.OpenAPI = Version
	doc.JSONSchemaDialect = "https://spec.openapis.org/oas/3.1/dialect/base"
	if _, ok := doc.Components.Schemas["v1Error"]; !ok {
		return nil, fmt.Errorf("the Swagger document has no v1Error definition, the body of every REST error")
	}
	doc.Components.Schemas[streamErrorSchema] = openapi3.NewSchemaRef("", streamErrorType())
	doc.Components.Responses = errorResponses()
	clientStreams := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if err := describe(path, method, op); err != nil {
				return nil, err
			}
			if op.OperationID == importOperation {
				streamRequestBody(op)
				clientStreams++
			}
		}
	}
	if clientStreams != 1 {
		return nil, fmt.Errorf("the Swagger document has no operation %s", importOperation)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding the OpenAPI document: %w", err)
	}
	// Through a generic value so the keys come out sorted and the output is stable.
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, err
	}
	if err := nullableMessages(generic); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// nullableMessages says, in JSON Schema 2020-12 terms, that a message-typed field
// (a nested message, a timestamp, a struct) may be null: the gateway writes unset ones
// as null. OpenAPI 3.0 had "nullable" for this; 3.1 has type arrays and the null type.
func nullableMessages(doc map[string]any) error {
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	if schemas == nil {
		return fmt.Errorf("the converted document has no component schemas")
	}
	isObject := func(ref string) bool {
		s, _ := schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		return s != nil && s["type"] == "object"
	}
	for _, s := range schemas {
		props, _ := s.(map[string]any)["properties"].(map[string]any)
		for name, p := range props {
			prop := p.(map[string]any)
			switch {
			case prop["$ref"] != nil && isObject(prop["$ref"].(string)):
				prop["anyOf"] = []any{map[string]any{"$ref": prop["$ref"]}, map[string]any{"type": "null"}}
				delete(prop, "$ref")
			case prop["type"] == "object" || prop["type"] == "string" && prop["format"] == "date-time":
				prop["type"] = []any{prop["type"], "null"}
			}
			props[name] = prop
		}
	}
	return nil
}

// describe gives an operation its error responses and, for a server stream, the
// newline-delimited body.
func describe(path, method string, op *openapi3.Operation) error {
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		delete(op.RequestBody.Value.Extensions, "x-originalParamName") // the converter's note to itself
	}
	ok := op.Responses.Value("200")
	if ok == nil || ok.Value == nil {
		return fmt.Errorf("%s %s has no 200 response", method, path)
	}
	stream := false
	if mt := ok.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Value != nil &&
		strings.HasPrefix(mt.Schema.Value.Title, streamTitle) {
		stream = true
		line := mt.Schema.Value
		line.Description = "One line of the stream: a result, or the error that ended the stream (then the last line)."
		line.Properties["error"] = openapi3.NewSchemaRef("#/components/schemas/"+streamErrorSchema, nil)
		line.MinProps, line.MaxProps = 1, ptr(uint64(1))
		ok.Value.Description = ptr("A stream: newline-delimited JSON, one object per line, sent as it is produced " +
			"(Transfer-Encoding: chunked). An error after the first line comes as the stream's last line, " +
			`{"error": {...}}, in this 200 answer.`)
		ok.Value.Content = openapi3.Content{NDJSON: mt}
	}
	for _, s := range errorStatuses() {
		op.Responses.Set(strconv.Itoa(s), &openapi3.ResponseRef{Ref: responseRef(s, stream)})
	}
	if d := op.Responses.Default(); d != nil && d.Value != nil {
		d.Value.Description = ptr("Any other error, with its gRPC status code and a message.")
	}
	return nil
}

// streamRequestBody makes an operation's JSON request body newline-delimited.
func streamRequestBody(op *openapi3.Operation) {
	body := op.RequestBody.Value
	body.Content = openapi3.Content{NDJSON: body.Content.Get("application/json")}
	body.Description = "Newline-delimited JSON: one request object per line, each up to the message-size limit. " + body.Description
}

func ptr[T any](v T) *T { return &v }

// errorStatuses are the HTTP statuses the gateway answers errors with: every gRPC
// code's status (the gateway's own mapping), and 413 for a body over the size limit.
func errorStatuses() []int {
	seen := map[int]bool{http.StatusRequestEntityTooLarge: true}
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		seen[runtime.HTTPStatusFromCode(c)] = true
	}
	out := make([]int, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// codesOf lists the gRPC code names answered with HTTP status s.
func codesOf(s int) []string {
	var names []string
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		if runtime.HTTPStatusFromCode(c) == s {
			names = append(names, strings.ToUpper(snake(c.String())))
		}
	}
	if s == http.StatusRequestEntityTooLarge {
		names = append(names, "RESOURCE_EXHAUSTED")
	}
	return names
}

// snake turns a Go code name (InvalidArgument) into its status name form
// (invalid_argument); "OK" and single words pass through.
func snake(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// whatFor says, in a response's description, when a status comes.
var whatFor = map[int]string{
	http.StatusBadRequest:            "The request is invalid (the message names the field and value), or the state does not allow it.",
	http.StatusUnauthorized:          `No valid key: send "Authorization: Bearer <key>".`,
	http.StatusForbidden:             "The key's role or tenants do not allow this, or a delegated write is not allowed by the schema's grant rules.",
	http.StatusNotFound:              "A named tenant, schema or object does not exist.",
	http.StatusConflict:              "A relationship to create exists already, or a precondition changed concurrently.",
	http.StatusRequestEntityTooLarge: "The request body is larger than the server's --max-message-size.",
	http.StatusTooManyRequests:       "A quota of the tenant or key is spent; Retry-After says when to try again.",
	499:                              "The client cancelled the request.",
	http.StatusInternalServerError:   "A server fault; the log has the details.",
	http.StatusNotImplemented:        "The route or method is not implemented.",
	http.StatusServiceUnavailable:    "The datastore or server cannot answer now; retry.",
	http.StatusGatewayTimeout:        "The request's deadline passed.",
}

func responseRef(status int, stream bool) string {
	name := "Error" + strconv.Itoa(status)
	if stream {
		name = "StreamError" + strconv.Itoa(status)
	}
	return "#/components/responses/" + name
}

// errorResponses are the shared error responses: for unary routes the body is an
// Error; a stream that fails before its first line answers the same status with the
// error as one line, {"error": {...}}.
func errorResponses() openapi3.ResponseBodies {
	out := openapi3.ResponseBodies{}
	for _, s := range errorStatuses() {
		desc := whatFor[s]
		if desc == "" {
			desc = http.StatusText(s)
		}
		desc += " gRPC codes: " + strings.Join(codesOf(s), ", ") + "."
		unary := openapi3.NewResponse().WithDescription(desc).
			WithContent(openapi3.NewContentWithJSONSchemaRef(openapi3.NewSchemaRef(errorSchema, nil)))
		line := openapi3.NewObjectSchema().WithPropertyRef("error", openapi3.NewSchemaRef("#/components/schemas/"+streamErrorSchema, nil))
		line.Required = []string{"error"}
		streamed := openapi3.NewResponse().WithDescription(desc + " The stream failed before its first line; the body is the line that carries the error.").
			WithContent(openapi3.NewContentWithJSONSchema(line))
		if s == http.StatusTooManyRequests {
			for _, r := range []*openapi3.Response{unary, streamed} {
				r.Headers = openapi3.Headers{"Retry-After": &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
					Description: "Seconds to wait before retrying.",
					Schema:      openapi3.NewSchemaRef("", openapi3.NewIntegerSchema().WithMin(1)),
				}}}}
			}
		}
		if s == http.StatusUnauthorized {
			unary.Headers = openapi3.Headers{"WWW-Authenticate": &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
				Description: "The bearer challenge.", Schema: openapi3.NewSchemaRef("", openapi3.NewStringSchema()),
			}}}}
		}
		out["Error"+strconv.Itoa(s)] = &openapi3.ResponseRef{Value: unary}
		out["StreamError"+strconv.Itoa(s)] = &openapi3.ResponseRef{Value: streamed}
	}
	return out
}

// streamErrorType is the error a stream ends with: the gRPC status as JSON.
func streamErrorType() *openapi3.Schema {
	detail := openapi3.NewObjectSchema().WithProperty("@type", openapi3.NewStringSchema())
	detail.AdditionalProperties = openapi3.AdditionalProperties{Has: ptr(true)}
	described := func(s *openapi3.Schema, d string) *openapi3.Schema { s.Description = d; return s }
	s := openapi3.NewObjectSchema().
		WithProperty("code", described(openapi3.NewInt32Schema(), "The gRPC status code number.")).
		WithProperty("message", described(openapi3.NewStringSchema(), "What went wrong, naming the field and value at fault.")).
		WithProperty("details", described(openapi3.NewArraySchema().WithItems(detail),
			"google.rpc error details, e.g. QuotaFailure and RetryInfo for a quota refusal."))
	s.Description = "The error that ended a stream: its gRPC status."
	s.Required = []string{"code", "message"}
	return s
}

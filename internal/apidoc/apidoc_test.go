package apidoc_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/pemba-authz/pemba/internal/apidoc"
)

const (
	swaggerFile = "../../proto/pemba/v1/pemba.swagger.json"
	openapiFile = "../../proto/pemba/v1/pemba.openapi.json"
)

// The committed OpenAPI document is what the converter makes of the committed Swagger
// document: an edited proto regenerated with buf but not with go generate fails here.
func TestCommittedDocumentIsFresh(t *testing.T) {
	swagger, err := os.ReadFile(swaggerFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := apidoc.Convert(swagger)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(openapiFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go generate ./proto/...` and commit it", openapiFile)
	}
}

// The document is valid OpenAPI 3.1, by the specification's own schema.
func TestDocumentIsValidOpenAPI31(t *testing.T) {
	raw, err := os.ReadFile(openapiFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("version %q", v)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatalf("building the model: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
		}
	}
}

type operation struct {
	OperationID string                            `json:"operationId"`
	RequestBody *struct{ Content map[string]any } `json:"requestBody"`
	Responses   map[string]struct {
		Ref     string         `json:"$ref"`
		Content map[string]any `json:"content"`
	} `json:"responses"`
}

// Every route describes the errors the gateway answers with, and every stream says it
// is newline-delimited.
func TestEveryRouteDescribesErrorsAndStreams(t *testing.T) {
	raw, err := os.ReadFile(openapiFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]operation `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	streams := map[string]bool{
		"PermissionService_LookupResources": true, "PermissionService_LookupSubjects": true,
		"RelationshipService_ReadRelationships": true, "RelationshipService_ExportRelationships": true,
		"WatchService_Watch": true,
	}
	seen := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			isStream := streams[op.OperationID]
			if isStream {
				seen++
				if op.Responses["200"].Content[apidoc.NDJSON] == nil {
					t.Errorf("%s %s: a stream without a %s 200 response", method, path, apidoc.NDJSON)
				}
			}
			for _, code := range []string{"400", "401", "403", "404", "413", "429", "500", "503", "504"} {
				r, ok := op.Responses[code]
				want := "#/components/responses/Error" + code
				if isStream {
					want = "#/components/responses/StreamError" + code
				}
				if !ok || r.Ref != want {
					t.Errorf("%s %s: response %s is %q, want %q", method, path, code, r.Ref, want)
				}
			}
			if op.OperationID == "RelationshipService_ImportRelationships" && op.RequestBody.Content[apidoc.NDJSON] == nil {
				t.Errorf("the import's body is not %s", apidoc.NDJSON)
			}
		}
	}
	if seen != 5 {
		t.Errorf("found %d of the 5 server streams", seen)
	}
}

func TestConvertRefusesWhatItCannotDescribe(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      `{`,
		"no error type": `{"swagger":"2.0","info":{"title":"x","version":"1"},"paths":{}}`,
	} {
		if _, err := apidoc.Convert([]byte(in)); err == nil {
			t.Errorf("%s: converted", name)
		}
	}
}

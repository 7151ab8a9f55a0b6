package pembav1

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document of the REST gateway. `go tool buf generate`
// writes the Swagger 2.0 description (pemba.swagger.json) from these protos and
// pemba_http.yaml; `go generate` converts it, adding the error and stream responses.
// The server serves it at GET /openapi.json.
//
//go:generate go run ../../../internal/apidoc/gen pemba.swagger.json pemba.openapi.json
//go:embed pemba.openapi.json
var OpenAPI []byte

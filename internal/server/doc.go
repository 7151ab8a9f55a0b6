// Package server is Pemba's outside: the gRPC services of the v1 API, the REST gateway
// and OpenAPI document on the HTTP port, authentication with preshared keys, tenant
// authorisation, request limits, metrics, tracing, logs, health and reflection.
//
// Proto types stop here. Each RPC has one file named after it (permission_check.go,
// relationship_write.go, ...) that validates the request up front, converts it to
// domain types (convert.go), calls the engine or the write path, and converts the
// answer back. Errors from the layers below become gRPC status codes in one place,
// errors.go.
//
// The request pipeline, outermost first: tracing (stats handler, when enabled) →
// metrics → logging → panic recovery → authentication and tenant authorisation →
// limits and default deadline → the RPC. REST requests enter the same gRPC server
// through an in-process connection, so they pass the same pipeline.
package server

package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pemba-authz/pemba/internal/server"
)

func TestTracingSpansPerRPC(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(t.Context())
	otel.SetTextMapPropagator(propagation.TraceContext{})
	ts := startServer(t, func(c *server.Config) { c.TracerProvider = tp })
	ts.writeSchema(t, "")

	if _, err := ts.permissions().Check(as(readerSecret), checkReq("", "document:d1", "view", "user:a1")); err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", ts.base+"/v1/permissions/check", strings.NewReader(
		`{"resource":{"type":"document","id":"d1"},"permission":"view","subject":{"type":"user","id":"a1"}}`))
	req.Header.Set("Authorization", "Bearer "+readerSecret)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// A server span ends when the RPC's stats handler sees its end, which can come
	// after the client already has the response: wait for both spans to be exported.
	var checks, continued int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		checks, continued = 0, 0
		for _, s := range spans.GetSpans() {
			if s.Name == "pemba.v1.PermissionService/Check" {
				checks++
				if s.SpanContext.TraceID().String() == traceID {
					continued++
				}
			}
		}
		if checks >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if checks != 2 || continued != 1 {
		t.Errorf("%d Check spans, %d continuing the REST caller's trace; want 2 and 1", checks, continued)
	}
}

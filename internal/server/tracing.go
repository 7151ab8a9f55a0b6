package server

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TracingConfig turns on OpenTelemetry tracing with an OTLP/gRPC exporter.
type TracingConfig struct {
	// Endpoint is the collector's host:port (e.g. 127.0.0.1:4317).
	Endpoint string
	// Insecure sends spans without TLS.
	Insecure bool
	// SampleRatio is the fraction of new traces sampled (a parent's decision is
	// followed). 0 means 1 (every request).
	SampleRatio float64
}

// NewTracerProvider starts an OTLP exporter and returns the tracer provider to pass as
// Config.TracerProvider. Call its Shutdown on exit to flush spans. It also installs
// the W3C trace-context propagator so incoming trace headers are continued.
func NewTracerProvider(ctx context.Context, cfg TracingConfig) (*sdktrace.TracerProvider, error) {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
	if cfg.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the OTLP trace exporter for %s: %w", cfg.Endpoint, err)
	}
	ratio := cfg.SampleRatio
	if ratio <= 0 {
		ratio = 1
	}
	res := resource.NewSchemaless(attribute.String("service.name", "pemba"))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp, nil
}

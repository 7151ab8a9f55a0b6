package serve

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

// newTracerProvider starts an OTLP/gRPC exporter to cfg.TracingEndpoint (the
// collector's host:port) and returns the tracer provider for the server. Call its
// Shutdown on exit to flush spans. It also installs the W3C trace-context propagator
// so incoming trace headers are continued. TracingSampleRatio is the fraction of new
// traces sampled (a parent's decision is followed); 0 means every request.
func newTracerProvider(ctx context.Context, cfg Config) (*sdktrace.TracerProvider, error) {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.TracingEndpoint)}
	if cfg.TracingInsecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the OTLP trace exporter for %s: %w", cfg.TracingEndpoint, err)
	}
	ratio := cfg.TracingSampleRatio
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

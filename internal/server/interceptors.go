package server

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// callInfo collects what the inner interceptors learn about a request (the key name,
// the tenant) for the outer ones that log it.
type callInfo struct {
	mu        sync.Mutex
	principal string
	tenant    string
}

func (c *callInfo) setPrincipal(p string) {
	c.mu.Lock()
	c.principal = p
	c.mu.Unlock()
}

func (c *callInfo) setTenant(t string) {
	c.mu.Lock()
	c.tenant = t
	c.mu.Unlock()
}

func (c *callInfo) get() (principal, tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.principal, c.tenant
}

type callInfoKey struct{}

func callInfoFrom(ctx context.Context) *callInfo {
	if c, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		return c
	}
	return &callInfo{}
}

// observer records every RPC in the metrics and the log. It is the outermost
// interceptor, so it sees the final status code, panics and auth failures included.
// It also gives every error a status code (toStatus), so handlers may return the
// errors of the layers below as they are.
type observer struct {
	metrics   *metrics
	log       *slog.Logger
	transport string // "grpc" or "rest"
}

func (o *observer) unary(ctx context.Context, req any, si *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	info := &callInfo{}
	ctx = context.WithValue(ctx, callInfoKey{}, info)
	method := strings.TrimPrefix(si.FullMethod, "/")
	o.metrics.inFlight.WithLabelValues(method, o.transport).Inc()
	start := time.Now()
	resp, err := handler(ctx, req)
	err = toStatus(err)
	o.done(ctx, method, info, start, err)
	return resp, err
}

func (o *observer) stream(srv any, ss grpc.ServerStream, si *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	info := &callInfo{}
	ctx := context.WithValue(ss.Context(), callInfoKey{}, info)
	method := strings.TrimPrefix(si.FullMethod, "/")
	o.metrics.inFlight.WithLabelValues(method, o.transport).Inc()
	start := time.Now()
	err := toStatus(handler(srv, &contextStream{ServerStream: ss, ctx: ctx}))
	o.done(ctx, method, info, start, err)
	return err
}

func (o *observer) done(ctx context.Context, method string, info *callInfo, start time.Time, err error) {
	elapsed := time.Since(start)
	code := status.Code(err)
	o.metrics.inFlight.WithLabelValues(method, o.transport).Dec()
	o.metrics.requests.WithLabelValues(method, code.String(), o.transport).Inc()
	o.metrics.latency.WithLabelValues(method, code.String(), o.transport).Observe(elapsed.Seconds())
	// A rate or concurrency refusal (one with a retry delay) is logged at debug: a
	// client over its quota sends them by the thousand, and the metric counts them.
	retryable := false
	if qr := (*quotaRefusal)(nil); errors.As(err, &qr) {
		o.metrics.quotaRefusals.WithLabelValues(qr.v.quotaID).Inc()
		retryable = qr.retry > 0
	}

	level := slog.LevelDebug
	switch {
	case code == codes.OK, retryable:
	case code == codes.Internal, code == codes.Unknown, code == codes.DataLoss, code == codes.Unavailable:
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	if !o.log.Enabled(ctx, level) {
		return
	}
	principal, tenant := info.get()
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", elapsed),
		slog.String("transport", o.transport),
	}
	if principal != "" {
		attrs = append(attrs, slog.String("principal", principal))
	}
	if tenant != "" {
		attrs = append(attrs, slog.String("tenant", tenant))
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil && o.transport == "grpc" {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", status.Convert(err).Message()))
	}
	o.log.LogAttrs(ctx, level, "rpc", attrs...)
}

// contextStream replaces a stream's context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// recoverer turns a panic in a handler into an INTERNAL error and logs it with its
// stack, so one bad request cannot take the server down.
type recoverer struct{ log *slog.Logger }

func (r recoverer) unary(ctx context.Context, req any, si *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = r.report(ctx, si.FullMethod, p)
		}
	}()
	return handler(ctx, req)
}

func (r recoverer) stream(srv any, ss grpc.ServerStream, si *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = r.report(ss.Context(), si.FullMethod, p)
		}
	}()
	return handler(srv, ss)
}

func (r recoverer) report(ctx context.Context, method string, p any) error {
	r.log.ErrorContext(ctx, "panic while handling a request", "method", strings.TrimPrefix(method, "/"), "panic", p, "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "internal error while handling %s; the server logged the details", shortMethod(method))
}

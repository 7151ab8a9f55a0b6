package client_test

import (
	"context"

	"google.golang.org/grpc"
)

// grpcRecorder is a dial option whose interceptor sees each request as it is sent,
// after the client's own interceptors.
func grpcRecorder(see func(req any)) grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		see(req)
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}

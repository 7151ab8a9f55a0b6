package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/protoconv"
)

// Exit codes of the client commands.
const (
	// exitNo is a definite "no": a denied or conditional check, a refused schema.
	exitNo = 1
	// exitError is every error: bad input, a failed call, an unreachable server.
	exitError = 2
)

// Defaults of the connection flags.
const (
	defaultEndpoint = "127.0.0.1:50051"
	defaultTimeout  = 30 * time.Second
	// maxRecvMessage is the largest response the client accepts. Schemas, explain
	// trees and export batches can outgrow gRPC's 4 MiB default.
	maxRecvMessage = 64 << 20
)

// clientOptions are the flags every client command shares: where the server is, who
// the caller is, which tenant, and how to print.
type clientOptions struct {
	endpoint string
	token    string
	tenant   string
	tls      bool
	insecure bool
	caFile   string
	certFile string
	keyFile  string
	output   string
	timeout  time.Duration

	// timeoutSet records whether --timeout (or PEMBA_TIMEOUT) was given; streams that
	// may run long (watch, import, export) only get a deadline when it was.
	timeoutSet func() bool
}

// addClientFlags registers the shared client flags as persistent flags of a client
// command (and so of its sub-commands). They are not global flags of pemba: `serve`,
// `migrate` and `validate` do not talk to a server.
func addClientFlags(cmd *cobra.Command) *clientOptions {
	o := &clientOptions{}
	f := cmd.PersistentFlags()
	f.StringVar(&o.endpoint, "endpoint", defaultEndpoint, "the server's gRPC address, host:port (env PEMBA_ENDPOINT)")
	f.StringVar(&o.token, "token", "", "the bearer key, sent as \"authorization: Bearer KEY\" (env PEMBA_TOKEN)")
	f.StringVar(&o.tenant, "tenant", "", "the tenant; empty means the default tenant (env PEMBA_TENANT)")
	f.BoolVar(&o.tls, "tls", false, "connect with TLS, verifying the server's certificate against the system roots or --ca-file")
	f.BoolVar(&o.insecure, "insecure", false, "connect with TLS but skip verifying the server's certificate (test servers only)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM CA bundle that signed the server's certificate (implies --tls)")
	f.StringVar(&o.certFile, "cert-file", "", "PEM client certificate for servers that require mTLS (implies --tls; needs --key-file)")
	f.StringVar(&o.keyFile, "key-file", "", "PEM private key of --cert-file")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text (for people) or json (for scripts)")
	f.DurationVar(&o.timeout, "timeout", defaultTimeout, "deadline of each request; watch, import and export have none unless this is set; 0 disables")
	o.timeoutSet = func() bool {
		// The flag object is shared with every sub-command, so Changed is seen here
		// whether the flag came from the command line or from PEMBA_TIMEOUT.
		fl := cmd.PersistentFlags().Lookup("timeout")
		return fl != nil && fl.Changed
	}
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error { return o.validate() }
	cmd.SetFlagErrorFunc(flagError)
	return o
}

// validate checks the shared flags before any command runs.
func (o *clientOptions) validate() error {
	switch o.output {
	case "text", "json":
	default:
		return usageErrorf("--output %q is not a format: use text or json", o.output)
	}
	if o.timeout < 0 {
		return usageErrorf("--timeout %s is negative", o.timeout)
	}
	if strings.TrimSpace(o.endpoint) == "" {
		return usageErrorf("--endpoint is empty: give the server's host:port")
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return usageErrorf("--cert-file and --key-file go together: give both or neither")
	}
	o.token = strings.TrimSpace(o.token) // keys read with $(cat file) end in a newline
	if strings.ContainsAny(o.token, " \t\r\n") {
		return usageErrorf("--token contains whitespace: pass the key alone")
	}
	return nil
}

// json reports whether output is JSON.
func (o *clientOptions) json() bool { return o.output == "json" }

// context returns the context of one request: the command's context with the
// --timeout deadline. A long stream (watch, import, export) gets a deadline only when
// --timeout was given explicitly.
func (o *clientOptions) context(cmd *cobra.Command, longStream bool) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if o.timeout == 0 || (longStream && !o.timeoutSet()) {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, o.timeout)
}

// connect opens a client connection to the server. gRPC connects lazily, so an
// unreachable server shows up as UNAVAILABLE on the first call.
func (o *clientOptions) connect() (*grpc.ClientConn, error) {
	creds, err := o.transportCredentials()
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMessage)),
		grpc.WithUserAgent("pemba-cli"),
	}
	if o.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(o.token)))
	}
	conn, err := grpc.NewClient(o.endpoint, opts...)
	if err != nil {
		return nil, usageErrorf("--endpoint %q: %v", o.endpoint, err)
	}
	return conn, nil
}

// withConn connects to the server and runs fn with the command's deadline (see
// context; longStream for watch, import and export). It is the one way a command
// calls the server: a failed call comes back as the error the user sees (rpcError),
// with its exit status, and the connection is closed when fn returns.
func (o *clientOptions) withConn(cmd *cobra.Command, longStream bool, fn func(ctx context.Context, conn *grpc.ClientConn) error) error {
	conn, err := o.connect()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := o.context(cmd, longStream)
	defer cancel()
	err = fn(ctx, conn)
	if status.Code(err) == codes.Unavailable && serverAnswers(cmd.Context(), conn) {
		return o.storeUnavailable(err)
	}
	return o.rpcError(err)
}

// serverAnswers reports whether a server answers on conn: its health service needs no
// key. It tells "no server there" from "the server is up but its store is not".
func serverAnswers(ctx context.Context, conn *grpc.ClientConn) bool {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded
}

// storeUnavailable is the error of a call the server answered UNAVAILABLE while it is
// reachable: its datastore is down, and asking whether a server listens would mislead.
func (o *clientOptions) storeUnavailable(err error) error {
	st := status.Convert(err)
	return &ExitError{Code: exitError, Err: fmt.Errorf("%s: %s (the server at %s answers, but it cannot reach its datastore; check the database, then retry)",
		protoconv.CodeName(st.Code()), st.Message(), o.endpoint)}
}

// transportCredentials builds plaintext or TLS credentials from the flags.
func (o *clientOptions) transportCredentials() (credentials.TransportCredentials, error) {
	if !o.tls && !o.insecure && o.caFile == "" && o.certFile == "" {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecure} //nolint:gosec // --insecure is an explicit opt-in for test servers
	if host, _, err := net.SplitHostPort(o.endpoint); err == nil {
		cfg.ServerName = host
	}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, usageErrorf("--ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca-file %s holds no PEM certificate", o.caFile)
		}
		cfg.RootCAs = pool
	}
	if o.certFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, usageErrorf("--cert-file/--key-file: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), nil
}

// bearerToken sends the key in the authorization header the server reads.
type bearerToken string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: a plaintext connection to a loopback server is the
// everyday development setup. Use --tls for anything else.
func (bearerToken) RequireTransportSecurity() bool { return false }

// rpcError turns a failed call into the error the user sees on stderr, "CODE: message",
// with exit status 2 and a hint for the usual connection and key mistakes.
func (o *clientOptions) rpcError(err error) error {
	if err == nil {
		return nil
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			st = status.New(codes.DeadlineExceeded, err.Error())
		case errors.Is(err, context.Canceled):
			st = status.New(codes.Canceled, err.Error())
		default:
			return &ExitError{Code: exitError, Err: err}
		}
	}
	msg := protoconv.CodeName(st.Code()) + ": " + st.Message()
	switch st.Code() {
	case codes.Unavailable:
		msg += fmt.Sprintf(" (is a Pemba server listening on %s? set --endpoint or PEMBA_ENDPOINT", o.endpoint)
		if !o.tls && !o.insecure && o.caFile == "" {
			msg += "; add --tls if it serves TLS"
		}
		msg += ")"
	case codes.Unauthenticated:
		if o.token == "" {
			msg += " (set --token or PEMBA_TOKEN)"
		}
	case codes.DeadlineExceeded:
		if o.timeout > 0 {
			msg += fmt.Sprintf(" (--timeout is %s)", o.timeout)
		}
	}
	return &ExitError{Code: exitError, Err: errors.New(msg)}
}

// usageErrorf is bad input on the command line or in a file: exit status 2.
func usageErrorf(format string, args ...any) error {
	return &ExitError{Code: exitError, Err: fmt.Errorf(format, args...)}
}

// flagError makes flag parsing errors (unknown flag, bad value) exit with status 2.
func flagError(cmd *cobra.Command, err error) error {
	return &ExitError{Code: exitError, Err: fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
}

// exactArgs requires n arguments and names them when they are missing. For n = 0,
// names is an optional hint (where the input goes instead).
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == n:
			return nil
		case n == 0:
			if names != "" {
				names = "; " + names
			}
			return usageErrorf("%s takes no arguments (got %q%s; see %s --help)", cmd.CommandPath(), args, names, cmd.CommandPath())
		}
		return usageErrorf("%s needs %d argument(s): %s (got %d; see %s --help)", cmd.CommandPath(), n, names, len(args), cmd.CommandPath())
	}
}

// rangeArgs requires between lo and hi arguments.
func rangeArgs(lo, hi int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usageErrorf("%s takes %s (got %d argument(s); see %s --help)", cmd.CommandPath(), names, len(args), cmd.CommandPath())
		}
		return nil
	}
}

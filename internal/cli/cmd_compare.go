package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/spicedb"
	"github.com/pemba-authz/pemba/internal/validation"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// maxCompareChecks bounds one comparison run, so a wrong file cannot run for hours.
const maxCompareChecks = 1_000_000

// compareResult is one check asked of both servers.
type compareResult struct {
	Check   string `json:"check"`
	Pemba   string `json:"pemba"`
	SpiceDB string `json:"spicedb"`
	Agree   bool   `json:"agree"`
}

func newCompareCommand() *cobra.Command {
	var o *clientOptions
	var against spicedb.ClientOptions
	var concurrency int
	var all bool
	cmd := &cobra.Command{
		Use:   "compare --against HOST CHECKS",
		Short: "Replay checks against Pemba and a SpiceDB server and report every disagreement",
		Long: `Run every check of CHECKS on this Pemba server (--endpoint) and on the SpiceDB
server at --against, both fully consistent, and report each check whose answers
differ: the dual run that ends a migration from SpiceDB.

CHECKS is a file (or - for stdin) of checks one per line, "resource#permission@subject"
optionally followed by " with {caveat context}", or a validation file (.yaml) whose
assertions are the checks (their expected answers are not consulted: only the two
servers are compared). Answers are allowed, denied, conditional, or the error a
server gave.

The SpiceDB key is --against-token (or PEMBA_AGAINST_TOKEN); --against-tls and
--against-ca-file connect with TLS.

Exit status: 0 when every check agrees, 1 when any disagrees, 2 on an error that
stopped the run.`,
		Example: `  pemba compare --against spicedb.internal:50051 --against-tls checks.txt
  PEMBA_AGAINST_TOKEN=... pemba compare --against 127.0.0.1:50061 spicedb-validation.yaml -o json`,
		Args: exactArgs(1, "CHECKS (a file, or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if against.Endpoint == "" {
				return usageErrorf("--against HOST:PORT is required: the SpiceDB server to compare with")
			}
			if concurrency < 1 || concurrency > 64 {
				return usageErrorf("--concurrency %d: must be between 1 and 64", concurrency)
			}
			checks, err := loadCompareChecks(cmd, args[0])
			if err != nil {
				return err
			}
			sdb, err := spicedb.Dial(against)
			if err != nil {
				return usageErrorf("--against: %v", err)
			}
			defer sdb.Close()
			return o.withConn(cmd, true, func(ctx context.Context, conn *grpc.ClientConn) error {
				results, err := runCompare(ctx, pb.NewPermissionServiceClient(conn), o.tenant, sdb, against.Endpoint, checks, concurrency)
				if err != nil {
					return err
				}
				return writeCompare(cmd, o, results, all)
			})
		},
	}
	o = addClientFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&against.Endpoint, "against", "", "host:port of the SpiceDB server's gRPC API")
	f.StringVar(&against.Token, "against-token", "", "the SpiceDB server's preshared key")
	f.BoolVar(&against.TLS, "against-tls", false, "connect to the SpiceDB server with TLS")
	f.StringVar(&against.CAFile, "against-ca-file", "", "CA certificate (PEM) to verify the SpiceDB server with")
	f.IntVar(&concurrency, "concurrency", 8, "checks in flight at once")
	f.BoolVar(&all, "all", false, "list every check, not only the disagreements")
	return cmd
}

// loadCompareChecks reads the checks: a validation file's assertions, or one check per
// line. Every line is checked before anything is sent.
func loadCompareChecks(cmd *cobra.Command, name string) ([]validation.Assertion, error) {
	if name != "-" && isValidationFile(name) {
		f, err := validation.Load(name)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		if len(f.Assertions) == 0 {
			return nil, usageErrorf("%s has no assertions to compare", name)
		}
		return f.Assertions, nil
	}
	in, label, closeIn, err := openInput(cmd, name)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	var out []validation.Assertion
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), maxLineBytes)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, "//") {
			continue
		}
		a, err := validation.ParseAssertion(text)
		if err != nil {
			return nil, usageErrorf("%s:%d: %v (a check is resource#permission@subject, optionally followed by ` with {json}`)", label, line, err)
		}
		if len(out) == maxCompareChecks {
			return nil, usageErrorf("%s holds more than %d checks; split it", label, maxCompareChecks)
		}
		a.File, a.Line = label, line
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, usageErrorf("reading %s: %v", label, err)
	}
	if len(out) == 0 {
		return nil, usageErrorf("%s holds no checks", label)
	}
	return out, nil
}

// runCompare asks every check of both servers, concurrency at a time, and returns the
// results in the order of the checks. A refused key or an unreachable server stops
// the run: every answer after it would be the same error, not a disagreement.
func runCompare(ctx context.Context, pemba pb.PermissionServiceClient, tenant string, sdb *spicedb.Client, against string, checks []validation.Assertion, concurrency int) ([]compareResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]compareResult, len(checks))
	work := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				a := checks[i]
				p, err := pembaAnswer(ctx, pemba, tenant, a)
				if stopsCompare(err) {
					cancel(err)
					continue
				}
				s, err := sdb.Check(ctx, a.Resource, a.Permission, a.Subject, a.Context)
				if stopsCompare(err) {
					cancel(fmt.Errorf("the SpiceDB server at %s: %s (check --against and --against-token)", against, statusText(err)))
					continue
				}
				if err != nil {
					s = "error: " + statusText(err)
				}
				results[i] = compareResult{Check: a.Text, Pemba: p, SpiceDB: s, Agree: p == s}
			}
		}()
	}
	for i := range checks {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

// stopsCompare tells the errors that end a comparison run.
func stopsCompare(err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return true
	}
	return false
}

// statusText is a failed call as "CODE: message".
func statusText(err error) string {
	st := status.Convert(err)
	return protoconv.CodeName(st.Code()) + ": " + st.Message()
}

// pembaAnswer asks Pemba one check, fully consistent. A failed call is the answer
// "error: CODE: message", unless it stops the run (stopsCompare).
func pembaAnswer(ctx context.Context, c pb.PermissionServiceClient, tenant string, a validation.Assertion) (string, error) {
	req := &pb.CheckRequest{
		Tenant:      tenant,
		Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
		Resource:    protoconv.ObjectToProto(a.Resource),
		Permission:  a.Permission,
		Subject:     protoconv.SubjectToProto(a.Subject),
	}
	if len(a.Context) > 0 {
		s, err := structpb.NewStruct(a.Context)
		if err != nil {
			return "error: caveat context: " + err.Error(), nil
		}
		req.Context = s
	}
	res, err := c.Check(ctx, req)
	if stopsCompare(err) {
		return "", err
	}
	if err != nil {
		return "error: " + statusText(err), nil
	}
	return permissionshipName(res.GetPermissionship()), nil
}

// writeCompare prints the disagreements (every check with all) and a summary, and
// sets the exit status.
func writeCompare(cmd *cobra.Command, o *clientOptions, results []compareResult, all bool) error {
	out := cmd.OutOrStdout()
	disagree := 0
	for _, r := range results {
		if !r.Agree {
			disagree++
		}
	}
	if o.json() {
		shown := []compareResult{}
		for _, r := range results {
			if all || !r.Agree {
				shown = append(shown, r)
			}
		}
		if err := writeJSON(out, map[string]any{"checks": len(results), "agree": len(results) - disagree, "disagree": disagree, "results": shown}); err != nil {
			return err
		}
	} else {
		writeCompareText(out, results, all)
		fmt.Fprintf(out, "compared %d checks: %d agree, %d disagree\n", len(results), len(results)-disagree, disagree)
	}
	if disagree > 0 {
		return &ExitError{Code: exitNo}
	}
	return nil
}

func writeCompareText(out io.Writer, results []compareResult, all bool) {
	for _, r := range results {
		switch {
		case !r.Agree:
			fmt.Fprintf(out, "DISAGREE %s\n  pemba:   %s\n  spicedb: %s\n", r.Check, r.Pemba, r.SpiceDB)
		case all:
			fmt.Fprintf(out, "agree    %s: %s\n", r.Check, r.Pemba)
		}
	}
}

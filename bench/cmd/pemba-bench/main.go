// Command pemba-bench loads a benchmark dataset into a running Pemba server and
// measures it with the workloads of bench/loadgen, verifying every answer against the
// dataset's oracle. See bench/README.md.
//
//	go run ./bench/cmd/pemba-bench --size 100000 --concurrency 1,8,32 --duration 10s
//
// It only targets loopback addresses unless --allow-remote is given, and every run is
// bounded by --duration (and --count when set).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pemba-authz/pemba/bench/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pemba-bench:", err)
	}
	os.Exit(code)
}

// usageError is a mistake in the invocation (exit code 2) rather than a failure
// while measuring (exit code 1).
type usageError struct{ error }

// run is the command: it returns the exit code, with the error to print when the
// invocation was refused or could not finish. Exit code 3 means the report lists
// failures (wrong answers, profiles not taken).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	o, dp, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, err
	}
	p, err := o.check(dp)
	if err != nil {
		return 2, err
	}
	failed, err := execute(ctx, o, p, stdout, stderr)
	var usage usageError
	switch {
	case errors.As(err, &usage):
		return 2, usage.error
	case err != nil:
		return 1, err
	case failed:
		return 3, nil
	}
	return 0, nil
}

// execute connects to the server, loads the dataset, measures and writes the
// report; failed says whether the report lists failures.
func execute(ctx context.Context, o *options, p *plan, stdout, stderr io.Writer) (failed bool, err error) {
	client, err := loadgen.Dial(o.target, o.conns, o.key)
	if err != nil {
		return false, err
	}
	defer client.Close()
	b := newBench(o, p, client, stderr)
	if err := waitServing(ctx, client, 30*time.Second); err != nil {
		return false, err
	}
	if err := b.load(ctx); err != nil {
		return false, err
	}
	if err := b.settleServer(ctx); err != nil {
		return false, err
	}
	measure := b.measure
	if o.soak.duration > 0 {
		measure = b.soak
	}
	if err := measure(ctx); err != nil {
		return false, err
	}
	b.finish()
	if err := b.writeReport(stdout); err != nil {
		return false, err
	}
	return len(b.rep.Failures) > 0, nil
}

// Command pemba-dataset writes a benchmark dataset for the reference B2B schema in the
// relationship text form that `pemba import` reads, one relationship per line.
//
//	go run ./bench/cmd/pemba-dataset --size 1000000 --seed 1 > b2b-1m.txt
//	go run ./bench/cmd/pemba-dataset --size 100000 --print-params
//
// The same flags always produce the same bytes (for one dataset.Version). The dataset
// streams: memory use does not grow with --size.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/pemba-authz/pemba/bench/dataset"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pemba-dataset:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pemba-dataset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		out         = fs.String("out", "-", "file to write (- is standard output)")
		printParams = fs.Bool("print-params", false, "print the resolved parameters as JSON and exit")
	)
	dp := dataset.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (all options are flags)", fs.Arg(0))
	}
	p, err := dp.Resolve()
	if err != nil {
		return err
	}
	if *printParams {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	m, err := dataset.NewModel(p)
	if err != nil {
		return err
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	n, err := m.WriteText(ctx, w)
	if err != nil {
		return fmt.Errorf("after %d relationships: %w", n, err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Close(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "wrote %d relationships (%d trees of depth %d, %d chains of depth %d, seed %d) in %s\n",
		n, p.Trees, p.Depth, p.Chains, p.ChainDepth, p.Seed, time.Since(start).Round(time.Millisecond))
	return nil
}

package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pemba-authz/pemba/internal/auditexport"
)

func newAuditVerifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Check the hash chain of an exported audit file",
		Long: `Read a file written by pemba audit export (JSON lines of records or CloudEvents,
or a CloudEvents batch array as a webhook receives it; - reads stdin) and check its
hash chain: every record's hash matches its content, every prev is the hash of the
record before it, and seq counts up by one. Each defect is printed with its line:
an altered record, missing records (with the lines they were between), a record out
of order, a broken link. Identical records repeated by at-least-once delivery are
counted, not faulted. The first record's prev is trusted, so the tail of a resumed
export verifies alone; compare the printed last hash with your own record of it to
detect records cut from the end.

Exit status: 0 when the chain is intact, 1 when a defect was found, 2 when the file
cannot be read.`,
		Example: `  pemba audit verify audit.jsonl
  pemba audit export --since 24h | pemba audit verify -`,
		Args: exactArgs(1, "give the exported file (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			if args[0] != "-" {
				fh, err := os.Open(args[0])
				if err != nil {
					return &ExitError{Code: exitError, Err: err}
				}
				defer fh.Close()
				in = fh
			}
			rep, err := auditexport.Verify(in)
			if err != nil {
				return &ExitError{Code: exitError, Err: fmt.Errorf("%s: %w", args[0], err)}
			}
			out := cmd.OutOrStdout()
			for _, p := range rep.Problems {
				fmt.Fprintf(out, "%s: %s\n", args[0], p)
			}
			if rep.Records == 0 {
				return &ExitError{Code: exitError, Err: fmt.Errorf("%s: no exported records", args[0])}
			}
			dups := ""
			if rep.Duplicates > 0 {
				dups = fmt.Sprintf(", %d duplicates from redelivery", rep.Duplicates)
			}
			if !rep.OK() {
				return &ExitError{Code: exitNo, Err: fmt.Errorf("%s: %d problems in %d records", args[0], len(rep.Problems), rep.Records)}
			}
			fmt.Fprintf(out, "%s: intact: %d records, seq %d to %d%s, last hash %s\n", args[0], rep.Records, rep.First, rep.Last, dups, rep.LastHash)
			return nil
		},
	}
}

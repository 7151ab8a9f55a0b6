package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pemba-authz/pemba/internal/validation"
)

// Exit codes of `pemba validate`.
const (
	validateFailed     = 1 // an assertion or expected relation failed
	validateLoadFailed = 2 // a file could not be loaded, or the command line is wrong
)

func newValidateCommand() *cobra.Command {
	var output string
	var combine, verbose bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check validation files: schema, relationships, assertions and expected relations",
		Long: `Run validation files fully offline, each on a fresh in-memory store: compile the
schema, load the relationships, check every assertion (assertTrue, assertFalse,
assertCaveated) and compare every expected relation of the validation block with what
the engine finds.

Each failure shows file:line, the assertion, the engine's answer (with the caveat
context it lacks) and the evaluation tree.

Exit status: 0 when everything passes, 1 when an assertion or expected relation
fails, 2 when a file cannot be loaded (bad YAML, schema error, a relationship the
schema refuses). See docs/validate.md for the file format.`,
		Example: `  pemba validate org-model.yaml
  pemba validate -o json tests/*.yaml
  pemba validate --combine schema-and-rels.yaml more-rels.yaml`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &ExitError{Code: validateLoadFailed, Err: errors.New("validate needs at least one validation file")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := validation.Options{Combine: combine, Verbose: verbose}
			switch output {
			case "text":
			case "json":
				opts.JSON = true
			default:
				return &ExitError{Code: validateLoadFailed, Err: fmt.Errorf("--output %q is not a format: use text or json", output)}
			}
			passed, err := validation.RunFiles(cmd.Context(), args, cmd.OutOrStdout(), opts)
			var loadErrs validation.ErrorList
			switch {
			case errors.As(err, &loadErrs):
				// The report on stdout already lists every load error.
				return &ExitError{Code: validateLoadFailed}
			case err != nil:
				return &ExitError{Code: validateLoadFailed, Err: err}
			case !passed:
				return &ExitError{Code: validateFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "report format: text or json")
	cmd.Flags().BoolVar(&combine, "combine", false, "read all files as one data set (one holds the schema, others only relationships)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing assertions and expected relations too")
	return cmd
}

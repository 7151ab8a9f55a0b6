package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/pemba-authz/pemba/internal/version"
)

func init() {
	// Run every PersistentPreRun on the way to a command, not only the nearest one,
	// so a command group may add its own hook without losing the environment twins.
	cobra.EnableTraverseRunHooks = true
}

// commands are the constructors of pemba's sub-commands, in the order help lists them.
var commands = []func() *cobra.Command{
	newServeCommand,
	newMigrateCommand,
	newRestoreCommand,
	newValidateCommand,
	newVersionCommand,
}

// NewRootCommand returns the pemba command with every sub-command attached.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "pemba",
		Short: "Relationship-based authorisation for B2B customer identity",
		Long: `Pemba answers "may this subject do this?" from relationships between objects,
in the Zanzibar lineage, built for B2B customer identity: delegated administration,
time-bound access, offboarding and an audit trail.

Every flag also reads PEMBA_<FLAG> from the environment (--grpc-addr: PEMBA_GRPC_ADDR).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Environment twins are applied before any command runs, so every command,
		// present or future, gets them without doing anything.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd.Flags())
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.Version = version.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
	for _, c := range commands {
		root.AddCommand(c())
	}
	addClientCommands(root) // client_commands.go
	return root
}

// ExitError makes Main exit with a chosen code (for example 1 for a denied check, 2
// for an error). Other errors exit with 1.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Main runs the command line with args (without the program name) and returns the
// process exit code. Errors are printed to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			fmt.Fprintln(stderr, "pemba:", exit.Err)
		}
		return exit.Code
	}
	fmt.Fprintln(stderr, "pemba:", err)
	return 1
}

// getenv is os.LookupEnv, replaceable in tests.
var getenv = os.LookupEnv

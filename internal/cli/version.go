package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pemba-authz/pemba/internal/version"
)

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit it was built from and the Go version",
		Long: `Print this binary's version, the commit it was built from ("-dirty" when the tree
had uncommitted changes) and the Go version, as "pemba --version" does. A running
server logs the same at start and exports it as the pemba_build_info metric.`,
		Example: `  pemba version
  pemba version -o json`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			switch output {
			case "json":
				return writeJSON(cmd.OutOrStdout(), info)
			case "text":
				_, err := fmt.Fprintln(cmd.OutOrStdout(), info)
				return err
			}
			return usageErrorf("--output %q is not a format: use text or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

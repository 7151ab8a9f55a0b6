package cli

import "github.com/spf13/cobra"

// clientCommands are the constructors of the commands that talk to a server (and the
// offline schema tools that live beside them). Help lists commands alphabetically.
var clientCommands = []func() *cobra.Command{
	newSchemaCommand,
	newRelationshipCommand,
	newCheckCommand,
	newCheckBulkCommand,
	newPermissionsCommand,
	newExpandCommand,
	newLookupResourcesCommand,
	newLookupSubjectsCommand,
	newWatchCommand,
	newImportCommand,
	newExportCommand,
	newCompareCommand,
	newBackupCommand,
	newAuditCommand,
	newOffboardCommand,
	newAccessCommand,
	newRequestCommand,
	newScimCommand,
	newTenantCommand,
}

// addClientCommands attaches the client commands to the root command.
func addClientCommands(root *cobra.Command) {
	for _, c := range clientCommands {
		root.AddCommand(c())
	}
}

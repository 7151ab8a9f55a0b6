// Command pemba is Pemba's single binary: the server (pemba serve), database
// migrations (pemba migrate) and the client commands.
package main

import (
	"context"
	"os"

	"github.com/pemba-authz/pemba/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Package cli is the pemba command line: the root command, `serve`, `migrate` and the
// client commands that talk to a server. cmd/pemba/main.go only calls Main.
//
// Every flag of every command also reads the environment variable PEMBA_<FLAG>, with
// the flag name upper-cased and dashes turned into underscores (--grpc-addr is
// PEMBA_GRPC_ADDR). A flag given on the command line wins over the environment. A
// repeatable flag reads several values from its variable, separated by whitespace.
//
// To add a command, write a constructor returning a *cobra.Command and list it in
// commands (root.go).
package cli

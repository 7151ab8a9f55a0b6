// Command gen writes the OpenAPI 3.1 document of the REST gateway from the Swagger 2.0
// one that `go tool buf generate` writes. It runs through `go generate ./proto/...`:
//
//	go run ./internal/apidoc/gen IN.swagger.json OUT.openapi.json
package main

import (
	"fmt"
	"os"

	"github.com/pemba-authz/pemba/internal/apidoc"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen IN.swagger.json OUT.openapi.json")
		os.Exit(2)
	}
	in, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	out, err := apidoc.Convert(in)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[2], out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

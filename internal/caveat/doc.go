// Package caveat compiles and evaluates caveats: named CEL expressions over typed
// parameters (cel.dev/cel-go), with partial evaluation so a check that lacks part of
// the context answers "conditional" and names what is missing.
package caveat

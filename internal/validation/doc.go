// Package validation reads validation files and runs them against the engine.
//
// A validation file is one YAML document holding a schema (inline under `schema`, or
// in a separate file named by `schemaFile`), relationships (one per line), assertions
// (`assertTrue`, `assertFalse`, `assertCaveated`, each optionally `with {context}`)
// and an optional `validation` block of expected relations: for a resource and
// permission, every subject that reaches it and the relationships through which each
// was directly reached. The format is the one SpiceDB validation files use, so
// existing files run unchanged; docs/validate.md describes it in full.
//
// The package has three layers, each usable on its own:
//
//   - Load and Parse read a file into a File: every relationship, assertion and
//     expected relation with the line it was written on. They check syntax only.
//   - Build turns one or more Files into a DataSet: the schema compiled, every
//     relationship checked against it, duplicates refused. Several files form one
//     data set when they are meant to be read together (one holds the schema, another
//     only relationships).
//   - Run loads a DataSet into a fresh memory store and checks every assertion with
//     the engine's Check and every expected relation with Expand, producing a Report.
//     RunFiles does all three for the `pemba validate` command.
package validation

// Package schema is the schema language: a lexer and parser that keep positions and
// doc comments, a compiler to the typed model in model.go, precise errors rendered as
// "file:line:col: message" with the source line and a caret, the formatter, structured
// diffs between schemas and the orphan checks that keep schema changes safe.
//
// The model answers the questions other packages ask of it in one place: accessors
// (accessors.go), validation of relationships and check requests (validate.go), the
// one walk over permission expressions (Walk) and the one strongly-connected-
// components routine (StronglyConnected) that both the compiler's cycle check and
// the engine's recursion analysis use.
//
// The language is a superset of the established Zanzibar-style schema language
// (definitions, relations, permissions, arrows, caveats, expiration) plus Pemba's
// grant rules, which say who may write a relation on behalf of someone else. See
// docs/schema.md for the reference.
package schema

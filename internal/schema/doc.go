// Package schema is the schema language: a lexer and parser that keep positions and
// doc comments, a compiler to the typed model in model.go, precise errors rendered as
// "file:line:col: message" with the source line and a caret, the formatter, structured
// diffs between schemas and the orphan checks that keep schema changes safe.
//
// The language is a superset of the established Zanzibar-style schema language
// (definitions, relations, permissions, arrows, caveats, expiration) plus Pemba's
// grant rules, which say who may write a relation on behalf of someone else. See
// docs/schema.md for the reference.
package schema

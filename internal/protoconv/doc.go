// Package protoconv converts between the v1 API's messages and Pemba's relationship
// types (internal/tuple): objects, subjects, relationships, caveat contexts and
// consistency requirements, plus the names of status codes.
//
// It is the one wire vocabulary of the server, the CLI and the load generator.
// Conversions from the wire validate what they read and name the field at fault
// ("items[3].subject.id"); their errors match tuple.ErrInvalid. Nothing below the
// server imports this package: the engine and the stores speak domain types only.
package protoconv

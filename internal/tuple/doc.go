// Package tuple owns Pemba's relationship type and its text form.
//
// A relationship (a "tuple" in Zanzibar's vocabulary) says that a subject stands in a
// relation to a resource:
//
//	document:q3#viewer@group:finance#member[caveat_name:{"k":"v"}][expiration:2027-01-01T00:00:00Z]
//
// Every other package parses, prints and validates relationships through this one, so
// the rules for names and identifiers live in exactly one place.
package tuple

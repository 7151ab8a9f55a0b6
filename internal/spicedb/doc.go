// Package spicedb reads what SpiceDB's tooling writes, so that a SpiceDB installation
// moves onto Pemba without a conversion step of its own: backup files (what
// `zed backup create` writes) and relationships in the forms `zed relationship read`
// prints, as text or as the JSON of the v1 API. The relationships come out as Pemba's
// own, with caveats and expirations kept.
package spicedb

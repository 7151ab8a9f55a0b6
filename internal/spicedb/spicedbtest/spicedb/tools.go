//go:build tools

// Package spicedb pins the SpiceDB server the migration tests compare Pemba with.
package spicedb

import _ "github.com/authzed/spicedb/cmd/spicedb"

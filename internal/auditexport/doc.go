// Package auditexport turns audit transactions and decision log records into an
// exportable stream whose records are linked by a hash chain, writes that stream as
// JSON lines or CloudEvents 1.0 (structured mode), delivers it to a webhook with
// retries, and verifies an exported file.
//
// # The chain
//
// Every exported record is an envelope: its position seq (0, 1, 2, ... from the
// start of the export), its kind ("audit.transaction" or "decision"), its data (a
// JSON object), prev (the hash of the record before it; 64 zeros for seq 0) and hash.
// The hash is the lower-case hex SHA-256 of
//
//	"pemba-chain-v1" NUL prev NUL seq NUL kind NUL canonical(data)
//
// where NUL is one zero byte, seq is written in decimal without leading zeros, and
// canonical(data) is data re-encoded with object keys sorted by their UTF-8 bytes at
// every level, no whitespace outside strings, numbers exactly as written, and
// strings escaped as Go's encoding/json escapes them with HTML escaping off (", \\
// and control characters escaped; U+2028 and U+2029 as \u2028 and \u2029). A receiver
// may reformat the JSON freely: the hash covers the data, not its spelling.
//
// Because each hash covers the previous one, Verify finds a record that was altered
// (its hash no longer matches), removed (seq jumps and the chain breaks) or moved
// (seq goes backwards), and names the line. An export that resumes from a cursor
// continues the chain: its first record's prev is the last hash delivered before.
package auditexport

package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// TestRetentionLoop runs the retention loop of a real server on bolt and PostgreSQL:
// a refused write loses its attempted updates after --audit-refusal-retention but
// keeps its place, and denied decisions go after --decision-log-denied-retention
// while allowed ones stay.
func TestRetentionLoop(t *testing.T) {
	for _, store := range []string{"bolt", "postgres"} {
		t.Run(store, func(t *testing.T) { testRetentionLoop(t, store) })
	}
}

func testRetentionLoop(t *testing.T, store string) {
	p, admin := startErasureServer(t, store, "--retention-interval", "100ms",
		"--audit-refusal-retention", "1s", "--decision-log-denied-retention", "1s")
	portal := newCLI(t, p, cliDelegateSecret)
	portal.expect(exitError, "rel", "write", "organization:acme#member@user:dan", "--as", "user:carol", "--reason", "reach up")
	admin.ok("check", "document:q3", "view", "user:alice")
	admin.expect(exitNo, "check", "document:q3", "view", "user:mallory")

	refusal := func() *transactionJSON {
		for _, tx := range decodeJSONLines[transactionJSON](t, admin.ok("audit", "--all", "-o", "json")) {
			if tx.Reason == "reach up" {
				return &tx
			}
		}
		t.Fatal("the refused write left the audit trail")
		return nil
	}
	if d := refusal().Denied; d == nil || len(d.Updates) != 1 {
		t.Fatalf("fresh refusal: %+v", d)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := refusal().Denied
		decisions := decodeJSONLines[decisionJSON](t, admin.ok("audit", "decisions", "-o", "json"))
		redacted := d != nil && d.Message == datastore.RedactedRefusal && len(d.Updates) == 0
		if redacted && len(decisions) == 1 {
			if decisions[0].Subject != "user:alice" || decisions[0].Result != "allowed" {
				t.Fatalf("the allowed decision went with the denied one: %+v", decisions)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention not applied after 20s: refusal %+v, decisions %+v", d, decisions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The redacted refusal keeps who tried, with which key and why.
	tx := refusal()
	if tx.Actor != "user:carol" || tx.Principal != "portal" || !strings.HasPrefix(tx.Token, "pt1_") {
		t.Fatalf("redacted refusal: %+v", tx)
	}
	p.waitFor(t, "retention applied")
}

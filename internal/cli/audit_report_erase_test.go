package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/testenv"
	"github.com/pemba-authz/pemba/internal/tuple"
)

const testErasureSecret = "erasure-secret-for-tests-0123456789"

// startErasureServer starts a server on store ("bolt" or "postgres") with the
// decision log, an erasure secret and the extra flags, loaded with the B2B walkthrough.
func startErasureServer(t *testing.T, store string, extra ...string) (*proc, *cliRunner) {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "erasure.secret")
	if err := os.WriteFile(secret, []byte(testErasureSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--quantization-window", "1ns", "--decision-log", "--erasure-secret-file", secret,
		"--preshared-key", "admin:admin:" + cliAdminSecret, "--preshared-key", "auditor:reader:" + cliReaderSecret,
		"--preshared-key", "portal:delegate:" + cliDelegateSecret,
	}
	switch store {
	case "bolt":
		args = append(args, "--datastore", "bolt", "--datastore-path", filepath.Join(t.TempDir(), "data"))
	case "postgres":
		uri := testenv.FreshPostgresDatabase(t)
		if out, err := exec.Command(pembaBin, "migrate", "--datastore-uri", uri).CombinedOutput(); err != nil {
			t.Fatalf("pemba migrate: %v\n%s", err, out)
		}
		args = append(args, "--datastore", "postgres", "--datastore-uri", uri)
	}
	p := startServe(t, nil, append(args, extra...)...)
	admin := newCLI(t, p, cliAdminSecret)
	admin.ok("schema", "write", referenceSchema, "--reason", "reference model")
	admin.ok("rel", "write", "--op", "create", "--from", testdataPath("testdata/client/b2b.txt"), "--reason", "walkthrough data")
	return p, admin
}

// TestAuditErase erases a subject on bolt and PostgreSQL through the real binary:
// refused while relationships name it, then its decisions are gone, the audit trail
// names only its stable pseudonym, the erasure is audited, and exports written after
// it still verify.
func TestAuditErase(t *testing.T) {
	for _, store := range []string{"bolt", "postgres"} {
		t.Run(store, func(t *testing.T) { testAuditErase(t, store) })
	}
}

func testAuditErase(t *testing.T, store string) {
	p, admin := startErasureServer(t, store)
	admin.ok("check", "document:q3", "view", "user:alice")
	admin.expect(exitNo, "check", "document:q3", "view", "user:mallory")
	waitForDecisions(t, admin, 2)
	dir := t.TempDir()
	before := filepath.Join(dir, "before.jsonl")
	admin.ok("audit", "export", "--kind", "audit", "--file", before)

	// Refused while a relationship still names alice, and for a reader key.
	r := admin.expect(exitError, "audit", "erase", "user:alice", "--reason", "GDPR #1")
	mustContain(t, r, r.stderr, "FAILED_PRECONDITION", "user:alice is still named by relationships", "pemba offboard user:alice")
	admin.ok("offboard", "user:alice", "--reason", "alice closed her account")
	r = newCLI(t, p, cliReaderSecret).expect(exitError, "audit", "erase", "user:alice")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED", "needs an admin key")

	want := datastore.Pseudonym([]byte(testErasureSecret), tuple.ObjectRef{Type: "user", ID: "alice"}).String()
	r = admin.ok("audit", "erase", "user:alice", "--reason", "GDPR #1", "-o", "json")
	var res eraseJSON
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v:\n%s", err, r)
	}
	// The data write and the offboarding named alice; one decision was about her.
	if res.Subject != "user:alice" || res.Pseudonym != want || res.DecisionsDeleted != 1 || res.TransactionsRewritten != 2 || !strings.HasPrefix(res.Token, "pt1_") {
		t.Fatalf("erase: %+v, want pseudonym %s", res, want)
	}

	// The audit trail names the pseudonym only, and keeps the facts.
	audit := admin.ok("audit", "--all", "-o", "json")
	if strings.Contains(audit.stdout, "user:alice") {
		t.Fatalf("the audit trail still names user:alice:\n%s", audit.stdout)
	}
	txs := decodeJSONLines[transactionJSON](t, audit)
	erase, offboard := txs[0], txs[1]
	if erase.Operation != "erase" || erase.Reason != "GDPR #1" || erase.Principal != "admin" || len(erase.Changes) != 0 {
		t.Fatalf("the erasure's audit record: %+v", erase)
	}
	if offboard.Operation != "offboard" || len(offboard.Changes) == 0 || !strings.Contains(audit.stdout, "organization:acme-eu#member@"+want) {
		t.Fatalf("the offboarding lost its facts: %+v", offboard)
	}
	r = admin.ok("audit", "--subject", want, "--all", "-o", "json")
	if n := len(decodeJSONLines[transactionJSON](t, r)); n != 2 {
		t.Fatalf("%d transactions found by the pseudonym, want 2", n)
	}
	r = admin.ok("audit", "decisions", "--subject", "user:alice", "-o", "json")
	if strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("alice's decisions survive:\n%s", r.stdout)
	}
	r = admin.ok("audit", "decisions", "-o", "json")
	if d := decodeJSONLines[decisionJSON](t, r); len(d) != 1 || d[0].Subject != "user:mallory" {
		t.Fatalf("other decisions: %+v", d)
	}

	// The same subject gets the same pseudonym; nothing is left to rewrite.
	r = admin.ok("audit", "erase", "user:alice")
	mustContain(t, r, r.stdout, "erased user:alice: now "+want+"; 0 decisions deleted, 0 audit transactions rewritten")

	// Exports: a fresh one verifies; the one written before erasure goes on with
	// --resume (its old records keep the identifier) and still verifies.
	after := filepath.Join(dir, "after.jsonl")
	admin.ok("audit", "export", "--kind", "all", "--file", after)
	r = admin.ok("audit", "verify", after)
	mustContain(t, r, r.stdout, "intact: ")
	if strings.Contains(string(mustRead(t, after)), "user:alice") {
		t.Fatal("a fresh export after erasure names user:alice")
	}
	r = admin.ok("audit", "export", "--kind", "audit", "--file", before, "--resume")
	mustContain(t, r, r.stderr, "exported 3 records")
	r = admin.ok("audit", "verify", before)
	mustContain(t, r, r.stdout, "intact: ")

	// The secret is never logged.
	p.mu.Lock()
	logs, _ := json.Marshal(p.lines)
	p.mu.Unlock()
	if strings.Contains(string(logs), testErasureSecret) {
		t.Fatal("the server logged the erasure secret")
	}
	if !strings.Contains(string(logs), want) {
		t.Fatalf("no log line names the erasure's pseudonym:\n%s", logs)
	}
}

// TestAuditEraseOff checks that a server without a secret refuses erasure, naming
// the flag, and that a short secret is refused at start.
func TestAuditEraseOff(t *testing.T) {
	_, admin := setupB2B(t)
	r := admin.expect(exitError, "audit", "erase", "user:nobody")
	mustContain(t, r, r.stderr, "FAILED_PRECONDITION", "--erasure-secret-file")

	out, err := exec.Command(pembaBin, "serve", "--datastore", "memory", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--erasure-secret", "short").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the erasure secret is 5 bytes; give at least 16") || strings.Contains(string(out), "short\"") {
		t.Fatalf("a short secret: %v\n%s", err, out)
	}
}

package cli

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestWatchSeesWrites starts `pemba watch` after a token, makes a direct and a
// delegated write, and checks the stream carries both with their metadata; a second
// watch replays from the same token in text form.
func TestWatchSeesWrites(t *testing.T) {
	p, admin := setupB2B(t)
	portal := newCLI(t, p, cliDelegateSecret)
	from := tokenOf(t, admin.ok("rel", "write", "document:w1#project@project:apollo"))

	watch := exec.Command(pembaBin, "watch", "--from", from, "--count", "2", "-o", "json")
	watch.Env = cleanEnv(admin.env)
	var out, errb bytes.Buffer
	watch.Stdout, watch.Stderr = &out, &errb
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- watch.Wait() }()
	t.Cleanup(func() {
		if watch.ProcessState == nil {
			watch.Process.Kill()
			<-done
		}
	})

	admin.ok("rel", "write", "document:w2#project@project:apollo", "--reason", "watch me")
	portal.ok("rel", "write", "organization:acme-eu#member@user:dan", "--as", "user:carol", "--reason", "new hire")

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch failed: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("watch did not see two transactions:\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	txs := decodeJSONLines[transactionJSON](t, cliResult{stdout: out.String(), stderr: errb.String()})
	if len(txs) != 2 {
		t.Fatalf("watch printed %d transactions:\n%s", len(txs), out.String())
	}
	if txs[0].Principal != "admin" || txs[0].Reason != "watch me" || txs[0].Operation != "write" || txs[0].Token == "" || txs[0].CommittedAt == "" ||
		len(txs[0].Changes) != 1 || txs[0].Changes[0].Kind != "created" || txs[0].Changes[0].Relationship.Text != "document:w2#project@project:apollo" {
		t.Fatalf("first watched transaction: %+v", txs[0])
	}
	if txs[1].Principal != "portal" || txs[1].Actor != "user:carol" || txs[1].Reason != "new hire" || len(txs[1].Grants) != 1 ||
		txs[1].Grants[0].Rule != "grant member, suspended by manage" || txs[1].Grants[0].Via != "organization:acme-eu" {
		t.Fatalf("second watched transaction: %+v", txs[1])
	}

	// Replay from the same token in text form; --filter keeps only matching changes.
	r := admin.ok("watch", "--from", from, "--count", "1", "--filter", "organization#member")
	mustContain(t, r, r.stdout, "  token "+txs[1].Token+"  write principal=portal actor=user:carol reason=\"new hire\" orgs=organization:acme-eu\n",
		"  + organization:acme-eu#member@user:dan[granted:user:carol@organization:acme-eu]\n")
	if strings.Contains(r.stdout, "document:w2") {
		t.Fatalf("--filter let another change through:\n%s", r)
	}
	r = admin.expect(exitError, "watch", "--from", "not-a-token")
	mustContain(t, r, r.stderr, "pemba: INVALID_ARGUMENT:", "after_token")
}

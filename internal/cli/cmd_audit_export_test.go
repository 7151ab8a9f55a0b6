package cli

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/auditexport"
)

// readExport reads an export file's records in order.
func readExport(t *testing.T, path string) []auditexport.Record {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditexport.Record
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		r, err := auditexport.Decode(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestAuditExportAndVerify exports the audit trail and decision log through the real
// binary and server, verifies the chain, tampers with it in each way, and resumes.
func TestAuditExportAndVerify(t *testing.T) {
	_, admin := setupB2B(t, "--decision-log", "--decision-log-sample", "1")
	admin.ok("check", "document:q3", "view", "user:alice")
	for attempt := 0; attempt < 100; attempt++ { // the decision log flushes within a second
		if len(decodeJSONLines[decisionJSON](t, admin.ok("audit", "decisions", "--since", "1h", "-o", "json"))) == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	r := admin.ok("audit", "export", "--kind", "all", "--file", file)
	mustContain(t, r, r.stderr, "exported 3 records (0 already exported skipped); chain at seq 3")
	recs := readExport(t, file)
	if len(recs) != 3 || recs[0].Kind != auditexport.KindTransaction || recs[2].Kind != auditexport.KindDecision {
		t.Fatalf("exported %+v", recs)
	}
	if !bytes.Contains(recs[0].Data, []byte(`"reason":"reference model"`)) {
		t.Fatalf("first record is not the oldest transaction: %s", recs[0].Data)
	}
	r = admin.ok("audit", "verify", file)
	mustContain(t, r, r.stdout, "intact: 3 records, seq 0 to 2, last hash "+recs[2].Hash)

	// A file that exists is not overwritten or appended to by accident.
	r = admin.expect(exitError, "audit", "export", "--file", file)
	mustContain(t, r, r.stderr, "is not empty", "--resume")

	// More writes; --resume appends only the new ones and continues the chain.
	admin.ok("rel", "write", "document:q3#viewer@user:zed", "--reason", "after the first export")
	r = admin.ok("audit", "export", "--kind", "all", "--file", file, "--resume")
	mustContain(t, r, r.stderr, "exported 1 records (3 already exported skipped); chain at seq 4")
	recs = readExport(t, file)
	if len(recs) != 4 || recs[3].Prev != recs[2].Hash || !bytes.Contains(recs[3].Data, []byte("after the first export")) {
		t.Fatalf("after resume: %+v", recs)
	}
	r = admin.ok("audit", "verify", file)
	mustContain(t, r, r.stdout, "intact: 4 records, seq 0 to 3")

	// Tampering: each kind is named with its line.
	lines := strings.SplitAfter(strings.TrimSpace(string(mustRead(t, file))), "\n")
	tampered := map[string]struct {
		lines []string
		want  string
	}{
		"altered":   {[]string{lines[0], strings.Replace(lines[1], "walkthrough data", "walkthrough dat", 1), lines[2], lines[3]}, "line 2 (seq 1): altered"},
		"missing":   {[]string{lines[0], lines[2], lines[3]}, "line 2 (seq 2): missing: seq 1, between line 1 and line 2"},
		"reordered": {[]string{lines[0], lines[2], lines[1], lines[3]}, "line 3 (seq 1): out of order"},
	}
	for name, tc := range tampered {
		path := filepath.Join(dir, name+".jsonl")
		if err := os.WriteFile(path, []byte(strings.Join(tc.lines, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		r := admin.expect(exitNo, "audit", "verify", path)
		mustContain(t, r, r.stdout, tc.want)
		mustContain(t, r, r.stderr, "problems in")
		r = admin.expect(exitError, "audit", "export", "--file", path, "--resume")
		mustContain(t, r, r.stderr, "does not verify")
	}
	r = admin.expect(exitError, "audit", "verify", filepath.Join(dir, "absent.jsonl"))
	mustContain(t, r, r.stderr, "no such file")

	// CloudEvents, through stdin of verify.
	r = admin.ok("audit", "export", "--format", "cloudevents")
	mustContain(t, r, r.stdout, `"specversion":"1.0"`, `"type":"dev.pemba.audit.transaction.v1"`, `"source":"/pemba/tenants/default"`, `"pembahash":`)
	v := admin.runStdin(r.stdout, "audit", "verify", "-")
	if v.code != 0 || !strings.Contains(v.stdout, "intact: 3 records") {
		t.Fatalf("verify of cloudevents from stdin:\n%s", v)
	}

	// Bad flags are usage errors naming the flag.
	for args, want := range map[string]string{
		"--kind everything":  "--kind",
		"--format xml":       "--format",
		"--resume":           "--resume",
		"--webhook ftp://x/": "--webhook",
		"--batch-size 0":     "--batch-size",
		"--tenants a":        "--all-tenants",
		"--webhook-header nocolon --webhook http://127.0.0.1:1/": "--webhook-header",
	} {
		r := admin.expect(exitError, append([]string{"audit", "export"}, strings.Fields(args)...)...)
		mustContain(t, r, r.stderr, want)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuditExportWebhook exports to a real webhook receiver that refuses the first
// requests with 500: everything arrives, in order, with the secret header, which
// is never printed; --file keeps what was accepted.
func TestAuditExportWebhook(t *testing.T) {
	_, admin := setupB2B(t)
	for i := 0; i < 4; i++ {
		admin.ok("rel", "write", "document:q3#viewer@user:w"+string(rune('a'+i)))
	}
	var mu sync.Mutex
	var got []auditexport.Record
	var attempts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if r.Header.Get("Authorization") != "Bearer hook-secret-123" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if attempts <= 2 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		if r.Header.Get("Content-Type") != auditexport.ContentTypeJSONLines {
			http.Error(w, "content type", http.StatusUnsupportedMediaType)
			return
		}
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			rec, err := auditexport.Decode(line)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			got = append(got, rec)
		}
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "sent.jsonl")
	r := admin.ok("audit", "export", "--webhook", srv.URL, "--webhook-header", "Authorization: Bearer hook-secret-123",
		"--batch-size", "2", "--file", file)
	mustContain(t, r, r.stderr, "webhook attempt 1 failed", "webhook attempt 2 failed", "exported 6 records")
	if strings.Contains(r.stdout+r.stderr, "hook-secret-123") {
		t.Fatalf("the webhook secret was printed:\n%s", r)
	}
	if len(got) != 6 {
		t.Fatalf("receiver got %d records, want 6", len(got))
	}
	for i, rec := range got {
		if rec.Seq != uint64(i) {
			t.Fatalf("receiver's record %d has seq %d", i, rec.Seq)
		}
	}
	if kept := readExport(t, file); len(kept) != 6 || kept[5].Hash != got[5].Hash {
		t.Fatalf("--file kept %d records", len(kept))
	}
	// A permanent refusal fails at once with the status.
	r = admin.expect(exitError, "audit", "export", "--webhook", srv.URL)
	mustContain(t, r, r.stderr, "HTTP 401")
}

// TestAuditExportTenantScope: a key limited to one tenant exports exactly its own
// tenant with --all-tenants and is refused another.
func TestAuditExportTenantScope(t *testing.T) {
	const secret = "brand-a-export-secret-01"
	p := startClientServer(t, "--preshared-key", "brand-a:reader@brand-a:"+secret)
	admin := newCLI(t, p, cliAdminSecret)
	for _, brand := range []string{"brand-a", "brand-b"} {
		admin.ok("tenant", "create", brand)
		admin.ok("schema", "write", referenceSchema, "--tenant", brand)
	}
	admin.ok("rel", "write", "brand:portal-b#customer@user:bob", "--tenant", "brand-b")
	brandA := newCLI(t, p, secret)
	r := brandA.ok("audit", "export", "--all-tenants")
	mustContain(t, r, r.stdout, `"tenant":"brand-a"`)
	if strings.Contains(r.stdout, "brand-b") {
		t.Fatalf("a brand-a key exported brand-b:\n%s", r)
	}
	r = brandA.expect(exitError, "audit", "export", "--all-tenants", "--tenants", "brand-b")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED")
	r = admin.ok("audit", "export", "--all-tenants")
	mustContain(t, r, r.stdout, `"tenant":"brand-a"`, `"tenant":"brand-b"`)
}

package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// adversarialCategories are the attacks issue 17 lists; every one has cases.
var adversarialCategories = []string{
	"outside subtree", "role not held", "self grant", "expiry beyond the rule", "caveats",
	"delegate chains", "crossing tenants", "tokens", "oversized or nested", "wildcards",
	"acting subject", "rest",
}

// TestAdversarialDelegatedAdministration runs every case of
// testdata/adversarial/*.yaml against a fresh real server over gRPC and over
// REST. Each attempt must be refused with the case's code and message, change no
// relationship in any tenant, commit nothing but its own denial record, and be
// recorded where the case says: the audit trail, with the actor, the key and the
// attempted updates, or the server's request log.
func TestAdversarialDelegatedAdministration(t *testing.T) {
	f := loadAdversarial(t)
	checkAdversarialFile(t, f)
	for _, c := range f.Cases {
		for _, transport := range c.transports() {
			t.Run(c.Name+"/"+transport, func(t *testing.T) {
				runAdversarial(t, f, c, transport)
			})
		}
	}
}

// checkAdversarialFile holds the file to its own rules: enough cases, every category
// covered, every code other than PERMISSION_DENIED and every refusal not in the audit
// trail explained.
func checkAdversarialFile(t *testing.T, f advFile) {
	t.Helper()
	if len(f.Cases) < 40 {
		t.Errorf("%d cases; the suite promises at least 40", len(f.Cases))
	}
	seen := map[string]int{}
	names := map[string]bool{}
	for _, c := range f.Cases {
		seen[c.Category]++
		if names[c.Name] {
			t.Errorf("case %q appears twice", c.Name)
		}
		names[c.Name] = true
		if !slices.Contains(adversarialCategories, c.Category) {
			t.Errorf("case %s: unknown category %q", c.Name, c.Category)
		}
		if c.Why == "" || c.Expect.Code == "" || len(c.Expect.Message) == 0 {
			t.Errorf("case %s: needs why, expect.code and expect.message", c.Name)
		}
		if c.Expect.Code != "PERMISSION_DENIED" && c.Expect.WhyCode == "" {
			t.Errorf("case %s: expects %s without why_code saying why it is not PERMISSION_DENIED", c.Name, c.Expect.Code)
		}
		switch c.Expect.Record {
		case "audit":
		case "log", "none":
			if c.Expect.WhyRecord == "" {
				t.Errorf("case %s: record %q without why_record saying why it is not in the audit trail", c.Name, c.Expect.Record)
			}
		default:
			t.Errorf("case %s: record must be audit, log or none, not %q", c.Name, c.Expect.Record)
		}
	}
	for _, cat := range adversarialCategories {
		if seen[cat] == 0 {
			t.Errorf("no case of category %q", cat)
		}
	}
}

func runAdversarial(t *testing.T, f advFile, c advCase, transport string) {
	p := placeholders{now: time.Now(), tokens: map[string]string{}}
	ts := advServer(t, f, func(s string) string { return p.expand(t, s) })
	ts.tokensFor(t, p.tokens, ":fixture")
	admin := advRequest{Key: "admin", Tenant: c.Tenant}
	if setup := append(c.SetupGenerate.lines(), c.Setup...); len(setup) > 0 {
		admin.Updates = setup
		if out := ts.send(t, "grpc", admin, admin.build(t, p), p); out.code != codes.OK {
			t.Fatalf("setup: %v %s", out.code, out.msg)
		}
	}
	ts.tokensFor(t, p.tokens, "")
	if c.Precheck != nil {
		precheck(t, ts, transport, c.Precheck, p)
	}

	want := advCode(t, c.Expect.Code)
	msg := c.build(t, p)
	before, heads := ts.relationshipsOf(t), ts.heads(t)
	logMark := len(ts.logs.String())
	out := ts.send(t, transport, c.advRequest, msg, p)

	if out.code != want {
		t.Fatalf("%s: got %v %q, want %v", c, out.code, out.msg, want)
	}
	for _, frag := range c.Expect.Message {
		if !strings.Contains(out.msg, p.expand(t, frag)) {
			t.Errorf("message %q does not contain %q", out.msg, frag)
		}
	}
	if transport == "rest" {
		wantHTTP := advHTTPStatus[want]
		if c.Expect.HTTPStatus != 0 {
			wantHTTP = c.Expect.HTTPStatus
		}
		if out.httpStatus != wantHTTP {
			t.Errorf("HTTP status %d, want %d", out.httpStatus, wantHTTP)
		}
	}

	// Nothing changed: no relationship in any tenant, no revision but the denial's.
	if after := ts.relationshipsOf(t); !equalRelationships(before, after) {
		t.Errorf("a refused attempt changed relationships:\nbefore %v\nafter  %v", before, after)
	}
	tenant := c.Tenant
	if tenant == "" {
		tenant = tuple.DefaultTenant
	}
	newHeads := ts.heads(t)
	for name, rev := range newHeads {
		grew := rev - heads[name]
		if wantGrew := map[bool]uint64{true: 1, false: 0}[c.Expect.Record == "audit" && name == tenant]; uint64(grew) != wantGrew {
			t.Errorf("tenant %s: %d revisions committed, want %d (only the denial record)", name, grew, wantGrew)
		}
	}

	switch c.Expect.Record {
	case "audit":
		wantDenialRecord(t, ts, c, msg, out, tenant, p)
	case "log":
		wantLogRecord(t, ts.logs.String()[logMark:], advMethods[c.method()].full, out.code, c.key(), transport)
	}

	if c.Control != nil {
		ctl := *c.Control
		if ctl.Method == "" {
			ctl.Method = c.Method
		}
		if ctl.Key == "" {
			ctl.Key = c.Key
		}
		if ctl.Tenant == "" {
			ctl.Tenant = c.Tenant
		}
		if ctl.Actor == "" {
			ctl.Actor = c.Actor
		}
		if res := ts.send(t, transport, ctl, ctl.build(t, p), p); res.code != codes.OK {
			t.Errorf("control request (the allowed neighbour of the attack) failed: %v %s", res.code, res.msg)
		}
	}
}

// precheck runs a Check that shows the premise of an attack.
func precheck(t *testing.T, ts *testServer, transport string, pc *advPrecheck, p placeholders) {
	t.Helper()
	r := advRequest{Method: "check", Key: pc.Key, Request: pc.Request}
	if r.Key == "" {
		r.Key = "reader"
	}
	out := ts.send(t, transport, r, r.build(t, p), p)
	if out.code != codes.OK {
		t.Fatalf("precheck: %v %s", out.code, out.msg)
	}
	if got := out.resp.(*pb.CheckResponse).GetPermissionship().String(); got != pc.Want {
		t.Fatalf("precheck: %s, want %s", got, pc.Want)
	}
}

// wantDenialRecord finds the attempt in the tenant's audit trail: the newest
// transaction, a denial that changed nothing, naming the actor, the key, the reason,
// the refusal as the caller saw it and the attempted updates.
func wantDenialRecord(t *testing.T, ts *testServer, c advCase, msg proto.Message, out advOutcome, tenant string, p placeholders) {
	t.Helper()
	actor, err := tuple.ParseSubject(c.Actor)
	if err != nil {
		t.Fatalf("actor %q: %v", c.Actor, err)
	}
	if actor.Relation == tuple.Ellipsis {
		actor.Relation = ""
	}
	newest, err := ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{Tenant: tenant, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{Tenant: tenant, Actor: protoconv.SubjectToProto(actor), PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.GetTransactions()) != 1 || len(newest.GetTransactions()) != 1 || mine.GetTransactions()[0].GetToken() != newest.GetTransactions()[0].GetToken() {
		t.Fatalf("the newest audit record of tenant %s is not the actor %s's attempt: newest %v, actor's %v", tenant, actor, newest.GetTransactions(), mine.GetTransactions())
	}
	tx := mine.GetTransactions()[0]
	md := tx.GetMetadata()
	if md.GetDenied() == nil || len(tx.GetChanges()) != 0 {
		t.Fatalf("audit record is not a denial that changed nothing: %v", tx)
	}
	if md.GetDenied().GetMessage() != out.msg {
		t.Errorf("denial record says %q, the caller was told %q", md.GetDenied().GetMessage(), out.msg)
	}
	if md.GetPrincipal() != c.key() {
		t.Errorf("denial record names key %q, want %q", md.GetPrincipal(), c.key())
	}
	if r, ok := msg.(interface{ GetReason() string }); ok && md.GetReason() != r.GetReason() {
		t.Errorf("denial record's reason %q, want %q", md.GetReason(), r.GetReason())
	}
	want := slices.Clone(c.Expect.Attempted)
	if w, ok := msg.(*pb.WriteRelationshipsRequest); ok && len(want) == 0 {
		for _, u := range w.GetUpdates() {
			want = append(want, updateText(u))
		}
	} else {
		for i := range want {
			want[i] = updateText(updateFromText(t, p.expand(t, want[i])))
		}
	}
	var got []string
	for _, u := range md.GetDenied().GetUpdates() {
		got = append(got, updateText(u))
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("denial record's attempted updates:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// wantLogRecord finds the refusal in the server's request log: the method, the code,
// the key's name and the transport.
func wantLogRecord(t *testing.T, logs, method string, code codes.Code, key, transport string) {
	t.Helper()
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "msg=rpc") && strings.Contains(line, "method="+strings.TrimPrefix(method, "/")) &&
			strings.Contains(line, "code="+code.String()) && strings.Contains(line, "principal="+key) &&
			strings.Contains(line, "transport="+transport) {
			return
		}
	}
	t.Errorf("no request log line for %s %v by key %s over %s in:\n%s", method, code, key, transport, logs)
}

func equalRelationships(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

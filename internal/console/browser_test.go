package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/serve"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// chromiumPath is Debian's Chromium, which CI installs; the browser tests fail
// without it rather than skip.
const chromiumPath = "/usr/bin/chromium"

const (
	testClientID = "pemba-console"
	testAdminKey = "ops-secret-for-the-console-tests"
)

// consoleServer is a real `pemba serve` (serve.Run with the console on) for the
// browser tests, with a test identity provider beside it.
type consoleServer struct {
	base  string // http://127.0.0.1:PORT
	idp   *testIdP
	conn  *grpc.ClientConn
	admin context.Context // carries the admin key
}

func startConsoleServer(t *testing.T) *consoleServer {
	t.Helper()
	secret := "client-secret-" + randomString()
	idp := newTestIdP(t, testClientID, secret)
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	cfg := serve.DefaultConfig()
	cfg.Datastore = "memory"
	cfg.GRPCAddr, cfg.HTTPAddr = grpcAddr, httpAddr
	cfg.PresharedKeys = []string{"ops:admin:" + testAdminKey}
	cfg.ShutdownGrace = 5 * time.Second
	cfg.Console = serve.ConsoleConfig{
		Enabled: true, Issuer: idp.issuer(), ClientID: testClientID, ClientSecretFile: secretFile,
		RedirectURL:  "http://" + httpAddr + "/console/callback",
		SubjectClaim: "sub", SubjectType: "user", SessionTTL: time.Hour,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	base := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not become ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &consoleServer{base: base, idp: idp, conn: conn,
		admin: metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+testAdminKey)}
	s.seed(t)
	return s
}

// freeAddr picks a free loopback port (the redirect URL must name the port before
// the server starts).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// seed publishes the reference B2B schema and an organisation tree: root
// administers acme, eve administers acme-eu, carl is a plain member of acme-eu.
func (s *consoleServer) seed(t *testing.T) {
	t.Helper()
	src, err := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pb.NewSchemaServiceClient(s.conn).WriteSchema(s.admin, &pb.WriteSchemaRequest{Schema: string(src)}); err != nil {
		t.Fatal(err)
	}
	s.write(t,
		"organization:acme-eu#parent@organization:acme",
		"organization:acme-us#parent@organization:acme",
		"organization:acme-eu-lab#parent@organization:acme-eu",
		"organization:acme#admin@user:root",
		"organization:acme-eu#admin@user:eve",
		"organization:acme-eu#member@user:carl",
	)
}

// browser starts headless Chromium; each call of tab opens an isolated browser
// context (its own cookies), like a separate person's browser.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artefacts string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("the console's browser tests need Chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	dir := os.Getenv("PEMBA_TEST_ARTEFACTS")
	if dir != "" {
		dir = filepath.Join(dir, "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		dir = t.TempDir()
	}
	t.Logf("console screenshots: %s", dir)
	return &browser{t: t, ctx: ctx, artefacts: dir}
}

// tab is one isolated browser session, bounded in time.
func (b *browser) tab() context.Context {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	b.t.Cleanup(func() { cancelTimeout(); cancel() })
	return ctx
}

// run runs actions in a tab and fails the test on error.
func (b *browser) run(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// value runs one action that returns a value.
func value[T any](b *browser, ctx context.Context, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// screenshot saves the whole page as NAME.png in the artefact directory.
func (b *browser) screenshot(ctx context.Context, name string) {
	b.t.Helper()
	png := value(b, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.artefacts, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// text is the text of the first element matching sel.
func (b *browser) text(ctx context.Context, sel string) string {
	b.t.Helper()
	return value(b, ctx, chromedp.Text(chromedp.CSS(sel)))
}

// count is how many elements match a CSS selector.
func (b *browser) count(ctx context.Context, sel string) int {
	b.t.Helper()
	return value(b, ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
}

// signIn goes through single sign-on as user and waits for the console's page
// after the callback.
func (b *browser) signIn(ctx context.Context, s *consoleServer, user string) {
	b.t.Helper()
	b.run(ctx,
		chromedp.Navigate(s.base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#sso")),
		chromedp.Click(chromedp.CSS("#sso")),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.Click(chromedp.CSS("#idp-submit")),
		// Back on the console: signed in, or the refusal of the sign-in.
		chromedp.WaitVisible(chromedp.CSS("[data-testid=who], #refusal")),
	)
}

// postFromPage sends a form POST from the page with fetch and returns the status.
func (b *browser) postFromPage(ctx context.Context, path string, fields url.Values) int {
	b.t.Helper()
	js := fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q, redirect: "manual"}).then(r => r.status)`, path, fields.Encode())
	return value(b, ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
}

func TestConsoleInABrowser(t *testing.T) {
	s := startConsoleServer(t)
	b := newBrowser(t)

	t.Run("sign in with PKCE, state and nonce", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		q := s.idp.lastAuthRequest()
		if q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("nonce") == "" {
			t.Fatalf("authorization request lacks PKCE, state or nonce: %v", q)
		}
		if who := b.text(ctx, "[data-testid=who]"); !strings.Contains(who, "user:eve") {
			t.Fatalf("header says %q, want user:eve", who)
		}
		// eve administers acme-eu and, through it, acme-eu-lab; not acme or acme-us.
		tree := b.text(ctx, "#org-tree")
		for _, want := range []string{"acme-eu", "acme-eu-lab"} {
			if !strings.Contains(tree, want) {
				t.Errorf("tree %q lacks %s", tree, want)
			}
		}
		if b.count(ctx, `#org-tree a[href="/console/orgs/acme"]`) != 0 || strings.Contains(tree, "acme-us") {
			t.Errorf("tree %q shows organisations eve does not administer", tree)
		}
		b.screenshot(ctx, "home")
		// Search narrows the list, on the server.
		b.run(ctx, chromedp.Navigate(s.base+"/console/?q=lab"), chromedp.WaitVisible(chromedp.CSS("#results")))
		if got := b.text(ctx, "#results"); strings.TrimSpace(got) != "acme-eu-lab" {
			t.Errorf("search for lab found %q", got)
		}
	})

	t.Run("org admin adds a member with an expiry, audited with her as actor", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		expires := time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(time.Minute)
		b.run(ctx,
			chromedp.Navigate(s.base+"/console/orgs/acme-eu"),
			chromedp.WaitVisible(chromedp.CSS("#add-member")),
			chromedp.SendKeys(chromedp.CSS("#subject"), "bob"),
			chromedp.SetValue(chromedp.CSS("#relation"), "member"),
			chromedp.SetValue(chromedp.CSS("#expires"), expires.Format("2006-01-02T15:04")),
			chromedp.SendKeys(chromedp.CSS("#reason"), "new hire, ticket 42"),
			chromedp.Click(chromedp.CSS("#add-submit")),
			chromedp.WaitVisible(chromedp.CSS("#flash")),
		)
		if f := b.text(ctx, "#flash"); !strings.Contains(f, "member") || !strings.Contains(f, "user:bob") {
			t.Errorf("flash says %q", f)
		}
		members := b.text(ctx, "#members")
		if !strings.Contains(members, "user:bob") || !strings.Contains(members, expires.Format(time.RFC3339)) {
			t.Errorf("members table lacks bob with expiry %s:\n%s", expires.Format(time.RFC3339), members)
		}
		// The roles offered are those eve's grant rules allow: member, suspended and
		// admin (she manages acme-eu), not billing_manager or app_manager (she holds
		// neither role).
		options := value(b, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#relation option")).map(o => o.value)`))
		if strings.Join(options, ",") != "admin,member,suspended" {
			t.Errorf("roles offered: %v, want admin, member, suspended", options)
		}
		b.screenshot(ctx, "organisation")

		resp, err := pb.NewAuditServiceClient(s.conn).ReadAuditLog(s.admin, &pb.ReadAuditLogRequest{
			Actor: &pb.SubjectReference{Type: "user", Id: "eve"}, Resource: &pb.ObjectReference{Type: "organization", Id: "acme-eu"},
		})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, tx := range resp.GetTransactions() {
			md := tx.GetMetadata()
			for _, c := range tx.GetChanges() {
				r := c.GetRelationship()
				if c.GetKind() == pb.RelationshipChange_KIND_CREATED && r.GetRelation() == "member" && r.GetSubject().GetId() == "bob" {
					found = true
					if md.GetActor().GetId() != "eve" || md.GetPrincipal() != "console" || md.GetReason() != "new hire, ticket 42" {
						t.Errorf("audit metadata %v: want actor user:eve, principal console, the reason", md)
					}
					if !r.GetExpiresAt().AsTime().Equal(expires) {
						t.Errorf("audited expiry %v, want %v", r.GetExpiresAt().AsTime(), expires)
					}
				}
			}
		}
		if !found {
			t.Fatalf("no audit record of eve creating acme-eu#member@user:bob: %v", resp.GetTransactions())
		}
	})

	t.Run("org admin changes a role and removes it", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		// carl, a member of acme-eu, becomes an admin for 30 days: one transaction
		// deletes the member role and writes the admin role with its expiry.
		expires := time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(time.Minute)
		row := `//tr[td[1][normalize-space()="user:carl"] and td[2][normalize-space()="member"]]`
		b.run(ctx,
			chromedp.Navigate(s.base+"/console/orgs/acme-eu"),
			chromedp.WaitVisible(chromedp.CSS("#members")),
			chromedp.SetValue(chromedp.Search(row+`//select[@name="new_relation"]`), "admin"),
			chromedp.SetValue(chromedp.Search(row+`//input[@name="expires"]`), expires.Format("2006-01-02T15:04")),
			chromedp.Click(chromedp.Search(row+`//button[normalize-space()="Change"]`)),
			chromedp.WaitVisible(chromedp.CSS("#flash")),
		)
		if f := b.text(ctx, "#flash"); !strings.Contains(f, "user:carl from member to admin") {
			t.Errorf("flash says %q", f)
		}
		if s.countRels(t, "acme-eu", "member", "carl") != 0 || s.countRels(t, "acme-eu", "admin", "carl") != 1 {
			t.Fatalf("after the change carl holds member %d, admin %d; want 0 and 1",
				s.countRels(t, "acme-eu", "member", "carl"), s.countRels(t, "acme-eu", "admin", "carl"))
		}
		// eve may not change her own role: the console offers no action on her row.
		if n := b.count(ctx, `#members tr`); n < 2 {
			t.Fatalf("members table has %d rows", n)
		}
		own := value(b, ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("#members tbody tr")).filter(r => r.cells[0].textContent.trim() === "user:eve" && r.querySelector("form")).length`))
		if own != 0 {
			t.Errorf("eve is offered %d actions on her own role", own)
		}
		// Back to a member, then removed.
		adminRow := `//tr[td[1][normalize-space()="user:carl"] and td[2][normalize-space()="admin"]]`
		b.run(ctx,
			chromedp.SetValue(chromedp.Search(adminRow+`//select[@name="new_relation"]`), "member"),
			chromedp.Click(chromedp.Search(adminRow+`//button[normalize-space()="Change"]`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@id="flash" and contains(., "from admin to member")]`)),
			chromedp.Click(chromedp.Search(row+`//button[normalize-space()="Remove"]`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@id="flash" and contains(., "Removed")]`)),
		)
		if f := b.text(ctx, "#flash"); !strings.Contains(f, "Removed member from user:carl") {
			t.Errorf("flash says %q", f)
		}
		if n := s.countRels(t, "acme-eu", "member", "carl") + s.countRels(t, "acme-eu", "admin", "carl"); n != 0 {
			t.Errorf("carl still holds %d roles after removal", n)
		}
		// carl is a member again for the tests that follow.
		s.write(t, "organization:acme-eu#member@user:carl")
	})

	t.Run("a grant outside her subtree shows the API's refusal", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		// The same write through the API, for the words it refuses with.
		_, apiErr := pb.NewRelationshipServiceClient(s.conn).WriteRelationships(s.admin, &pb.WriteRelationshipsRequest{
			Updates: []*pb.RelationshipUpdate{{Operation: pb.RelationshipUpdate_OPERATION_CREATE, Relationship: &pb.Relationship{
				Resource: &pb.ObjectReference{Type: "organization", Id: "acme"}, Relation: "member",
				Subject: &pb.SubjectReference{Type: "user", Id: "mallory"},
			}}},
			Actor: &pb.SubjectReference{Type: "user", Id: "eve"},
		})
		if apiErr == nil {
			t.Fatal("the API let eve grant in acme")
		}
		want := "PERMISSION_DENIED: " + status.Convert(apiErr).Message()
		// The console offers no form for acme; eve points her own form at it.
		b.run(ctx,
			chromedp.Navigate(s.base+"/console/orgs/acme-eu"),
			chromedp.WaitVisible(chromedp.CSS("#add-member")),
			chromedp.SetAttributeValue(chromedp.CSS("#add-member"), "action", "/console/orgs/acme/members"),
			chromedp.SendKeys(chromedp.CSS("#subject"), "mallory"),
			chromedp.SetValue(chromedp.CSS("#relation"), "member"),
			chromedp.Click(chromedp.CSS("#add-submit")),
			chromedp.WaitVisible(chromedp.CSS("#refusal")),
		)
		if got := strings.TrimSpace(b.text(ctx, "#refusal code")); got != want {
			t.Errorf("the page shows\n%q\nthe API said\n%q", got, want)
		}
		b.screenshot(ctx, "refusal-outside-subtree")

		// A role whose rule demands an expiry, given none: the API's refusal again.
		b.run(ctx,
			chromedp.Navigate(s.base+"/console/orgs/acme-eu"),
			chromedp.WaitVisible(chromedp.CSS("#add-member")),
			chromedp.SendKeys(chromedp.CSS("#subject"), "dave"),
			chromedp.SetValue(chromedp.CSS("#relation"), "admin"),
			chromedp.Click(chromedp.CSS("#add-submit")),
			chromedp.WaitVisible(chromedp.CSS("#refusal")),
		)
		if got := b.text(ctx, "#refusal code"); !strings.Contains(got, "PERMISSION_DENIED") || !strings.Contains(got, "expire within 90d") {
			t.Errorf("refusal of an admin grant without expiry: %q", got)
		}
		if n := s.countRels(t, "acme", "member", "mallory") + s.countRels(t, "acme-eu", "admin", "dave"); n != 0 {
			t.Errorf("%d refused grants were stored", n)
		}
	})

	t.Run("a non-admin sees no admin actions", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "carl")
		b.run(ctx, chromedp.WaitVisible(chromedp.CSS("#no-orgs")))
		if n := b.count(ctx, "main form[method=post]"); n != 0 {
			t.Errorf("carl's home page has %d forms", n)
		}
		b.screenshot(ctx, "non-admin-home")
		b.run(ctx, chromedp.Navigate(s.base+"/console/orgs/acme-eu"), chromedp.WaitVisible(chromedp.CSS("#not-admin")))
		if n := b.count(ctx, "main form, #members"); n != 0 {
			t.Errorf("carl sees %d admin forms or the member list on acme-eu", n)
		}
		// Even a hand-made form with carl's own CSRF token gets the API's refusal.
		csrf := value(b, ctx, chromedp.Evaluate[string](`document.querySelector("input[name=csrf]").value`))
		code := b.postFromPage(ctx, "/console/orgs/acme-eu/members", url.Values{"csrf": {csrf}, "subject": {"carl2"}, "relation": {"member"}})
		if code != http.StatusForbidden || s.countRels(t, "acme-eu", "member", "carl2") != 0 {
			t.Errorf("carl's forged grant: status %d, stored %d", code, s.countRels(t, "acme-eu", "member", "carl2"))
		}
	})

	t.Run("a form without the CSRF token is refused", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		for _, fields := range []url.Values{
			{"subject": {"trudy"}, "relation": {"member"}},
			{"subject": {"trudy"}, "relation": {"member"}, "csrf": {"not-the-token"}},
		} {
			if code := b.postFromPage(ctx, "/console/orgs/acme-eu/members", fields); code != http.StatusForbidden {
				t.Errorf("POST with csrf %q: status %d, want 403", fields.Get("csrf"), code)
			}
		}
		if n := s.countRels(t, "acme-eu", "member", "trudy"); n != 0 {
			t.Errorf("a forged form stored %d relationships", n)
		}
	})

	t.Run("tampered, expired and wrong-audience ID tokens are refused", func(t *testing.T) {
		b.t = t
		defer s.idp.setMode(tokenGood)
		for mode, reason := range map[string]string{
			tokenTampered:      "signature",
			tokenExpired:       "expired",
			tokenWrongAudience: "audience",
		} {
			s.idp.setMode(mode)
			ctx := b.tab()
			b.signIn(ctx, s, "eve")
			msg := b.text(ctx, "#refusal")
			if !strings.Contains(msg, "sign-in refused") || !strings.Contains(strings.ToLower(msg), reason) {
				t.Errorf("%s token: page says %q, want a refusal about the %s", mode, msg, reason)
			}
			if mode == tokenExpired {
				b.screenshot(ctx, "refused-expired-token")
			}
			// Not signed in: the console sends the browser to sign in.
			b.run(ctx, chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#sso")))
			loc := value(b, ctx, chromedp.Location())
			if !strings.HasSuffix(loc, "/console/login") {
				t.Errorf("%s token: after the refusal /console/ went to %s", mode, loc)
			}
		}
	})

	t.Run("logout ends the session on the server", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
		if err != nil {
			t.Fatal(err)
		}
		var session *network.Cookie
		for _, c := range res.Cookies {
			if c.Name == "pemba_console" {
				session = c
			}
		}
		if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax || session.Path != "/console" {
			t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/console", session)
		}
		if code := s.getWithCookie(t, "/console/", session.Value); code != http.StatusOK {
			t.Fatalf("the session works before logout: status %d", code)
		}
		b.run(ctx, chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#flash")))
		if f := b.text(ctx, "#flash"); !strings.Contains(f, "signed out") {
			t.Errorf("after logout the page says %q", f)
		}
		b.screenshot(ctx, "signed-out")
		// The old cookie, replayed, no longer opens anything.
		if code := s.getWithCookie(t, "/console/", session.Value); code != http.StatusSeeOther {
			t.Errorf("the session still works after logout: status %d", code)
		}
	})

	t.Run("an operator signs in with an admin key and sees every organisation", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.run(ctx,
			chromedp.Navigate(s.base+"/console/login"),
			chromedp.WaitVisible(chromedp.CSS("#key")),
			chromedp.SendKeys(chromedp.CSS("#key"), testAdminKey),
			chromedp.Click(chromedp.CSS("#key-submit")),
			chromedp.WaitVisible(chromedp.CSS("#org-tree")),
		)
		tree := b.text(ctx, "#org-tree")
		for _, want := range []string{"acme", "acme-eu", "acme-us", "acme-eu-lab"} {
			if !strings.Contains(tree, want) {
				t.Errorf("operator's tree %q lacks %s", tree, want)
			}
		}
		if who := b.text(ctx, "[data-testid=who]"); !strings.Contains(who, "operator ops") {
			t.Errorf("header says %q", who)
		}
	})

	t.Run("the audit timeline of her organisation", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		b.run(ctx,
			chromedp.Navigate(s.base+"/console/orgs/acme-eu"),
			chromedp.WaitVisible(chromedp.CSS("#audit-link")),
			chromedp.Click(chromedp.CSS("#audit-link")),
			chromedp.WaitVisible(chromedp.CSS("#timeline")),
		)
		tl := b.text(ctx, "#timeline")
		for _, want := range []string{"by user:eve through key console", "new hire, ticket 42", "created organization:acme-eu#member@user:bob[expiration:"} {
			if !strings.Contains(tl, want) {
				t.Errorf("timeline lacks %q:\n%s", want, tl)
			}
		}
		b.screenshot(ctx, "audit-timeline")
		// Not for an organisation she does not administer.
		b.run(ctx, chromedp.Navigate(s.base+"/console/orgs/acme/audit"), chromedp.WaitVisible(chromedp.CSS("#not-admin")))
		if n := b.count(ctx, "#timeline"); n != 0 {
			t.Error("eve sees acme's timeline")
		}
	})

	t.Run("access requests: approve and deny with a reason", func(t *testing.T) {
		b.t = t
		ids := map[string]string{}
		for _, who := range []string{"pat", "quinn"} {
			resp, err := pb.NewAccessRequestServiceClient(s.conn).CreateAccessRequest(s.admin, &pb.CreateAccessRequestRequest{
				Actor: &pb.SubjectReference{Type: "user", Id: who},
				Relationship: &pb.Relationship{Resource: &pb.ObjectReference{Type: "organization", Id: "acme-eu"}, Relation: "member",
					Subject: &pb.SubjectReference{Type: "user", Id: who}},
				Reason: who + " joins the EU team", Duration: "720h",
			})
			if err != nil {
				t.Fatal(err)
			}
			ids[who] = resp.GetRequest().GetId()
		}
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		b.run(ctx, chromedp.Navigate(s.base+"/console/inbox"), chromedp.WaitVisible(chromedp.CSS("#inbox")))
		if n := b.count(ctx, "#inbox > li"); n != 2 {
			t.Fatalf("eve's inbox has %d requests, want 2", n)
		}
		b.screenshot(ctx, "inbox")
		approve := fmt.Sprintf(`li[data-request=%q]`, ids["pat"])
		deny := fmt.Sprintf(`li[data-request=%q]`, ids["quinn"])
		b.run(ctx,
			chromedp.SendKeys(chromedp.CSS(approve+" input[name=reason]"), "welcome, pat"),
			chromedp.SendKeys(chromedp.CSS(approve+" input[name=duration]"), "168h"),
			chromedp.Click(chromedp.CSS(approve+" button.approve")),
			chromedp.WaitVisible(chromedp.Search(`//p[@id="flash" and contains(., "Approved")]`)),
			chromedp.SendKeys(chromedp.CSS(deny+" input[name=reason]"), "not on the team"),
			chromedp.Click(chromedp.CSS(deny+" button.deny")),
			chromedp.WaitVisible(chromedp.Search(`//p[@id="flash" and contains(., "Denied")]`)),
		)
		if f := b.text(ctx, "#flash"); !strings.Contains(f, ids["quinn"]) {
			t.Errorf("flash %q does not name the denied request", f)
		}
		if s.countRels(t, "acme-eu", "member", "pat") != 1 || s.countRels(t, "acme-eu", "member", "quinn") != 0 {
			t.Errorf("after approve/deny: pat %d, quinn %d; want 1 and 0", s.countRels(t, "acme-eu", "member", "pat"), s.countRels(t, "acme-eu", "member", "quinn"))
		}
		for who, want := range map[string]pb.AccessRequestState{"pat": pb.AccessRequestState_ACCESS_REQUEST_STATE_APPROVED, "quinn": pb.AccessRequestState_ACCESS_REQUEST_STATE_DENIED} {
			resp, err := pb.NewAccessRequestServiceClient(s.conn).GetAccessRequest(s.admin, &pb.GetAccessRequestRequest{Id: ids[who]})
			if err != nil {
				t.Fatal(err)
			}
			r := resp.GetRequest()
			if r.GetState() != want {
				t.Errorf("%s's request is %v, want %v", who, r.GetState(), want)
			}
			if who == "quinn" && (r.GetDecidedBy().GetId() != "eve" || r.GetDecisionReason() != "not on the team") {
				t.Errorf("quinn's request decided by %v with %q", r.GetDecidedBy(), r.GetDecisionReason())
			}
		}
		if b.count(ctx, "#inbox-empty") != 1 {
			t.Error("the inbox is not empty after both decisions")
		}
	})

	t.Run("who can access a resource, and why, as a graph", func(t *testing.T) {
		b.t = t
		s.write(t, "project:roadmap#owner@organization:acme-eu", "project:other#owner@organization:acme-us",
			"organization:acme#brand@brand:portal", "brand:portal#customer@user:pat")
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		b.run(ctx,
			chromedp.Navigate(s.base+"/console/access"),
			chromedp.WaitVisible(chromedp.CSS("#access-form")),
			chromedp.SendKeys(chromedp.CSS("#ac-resource"), "project:roadmap"),
			chromedp.SendKeys(chromedp.CSS("#ac-permission"), "view"),
			chromedp.Click(chromedp.CSS("#ac-submit")),
			chromedp.WaitVisible(chromedp.CSS("#accessors")),
		)
		if got := strings.TrimSpace(b.text(ctx, "#accessors")); got != "user:pat" {
			t.Errorf("who can view project:roadmap: %q, want user:pat (the only brand customer in acme-eu)", got)
		}
		b.run(ctx,
			chromedp.Click(chromedp.Search(`//ul[@id="accessors"]//a[normalize-space()="user:pat"]`)),
			chromedp.WaitVisible(chromedp.CSS("#explain-graph")),
		)
		if r := b.text(ctx, "#result"); r != "allowed" {
			t.Errorf("result %q", r)
		}
		if n := b.count(ctx, "#explain-graph g.node"); n < 3 {
			t.Errorf("the graph has %d nodes", n)
		}
		titles := value(b, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#explain-graph g.node > title")).map(t => t.textContent)`))
		joined := strings.Join(titles, "\n")
		for _, want := range []string{"organization:acme-eu#member@user:pat", "brand:portal#customer@user:pat", "granted by user:eve"} {
			if !strings.Contains(joined, want) {
				t.Errorf("graph lacks %q:\n%s", want, joined)
			}
		}
		b.screenshot(ctx, "explain-graph")
		// A resource outside what she administers: refused, no list.
		b.run(ctx, chromedp.Navigate(s.base+"/console/access?resource=project:other&permission=view"), chromedp.WaitVisible(chromedp.CSS("#refusal")))
		if b.count(ctx, "#accessors, #no-accessors") != 0 || !strings.Contains(b.text(ctx, "#refusal"), "do not administer project:other") {
			t.Errorf("eve asked about project:other: %q", b.text(ctx, "#refusal"))
		}
	})

	t.Run("offboarding with a preview", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		b.run(ctx,
			chromedp.Navigate(s.base+"/console/orgs/acme-eu/offboard"),
			chromedp.WaitVisible(chromedp.CSS("#preview-form")),
			chromedp.SendKeys(chromedp.CSS("#ob-subject"), "bob"),
			chromedp.SendKeys(chromedp.CSS("#ob-reason"), "left acme-eu"),
			chromedp.Click(chromedp.CSS("#preview")),
			chromedp.WaitVisible(chromedp.CSS("#preview-result")),
		)
		if got := b.text(ctx, "#would-remove"); !strings.Contains(got, "organization:acme-eu#member@user:bob") {
			t.Errorf("preview lists %q", got)
		}
		if s.countRels(t, "acme-eu", "member", "bob") != 1 {
			t.Fatal("the preview removed something")
		}
		b.screenshot(ctx, "offboard-preview")
		b.run(ctx,
			chromedp.Click(chromedp.CSS("#confirm-offboard")),
			chromedp.WaitVisible(chromedp.Search(`//p[@id="flash" and contains(., "Offboarded")]`)),
		)
		if s.countRels(t, "acme-eu", "member", "bob") != 0 {
			t.Error("bob is still a member after offboarding")
		}
	})

	t.Run("phone width", func(t *testing.T) {
		b.t = t
		ctx := b.tab()
		b.signIn(ctx, s, "eve")
		b.run(ctx,
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(3)),
			chromedp.Navigate(s.base+"/console/orgs/acme-eu"),
			chromedp.WaitVisible(chromedp.CSS("#add-member")),
		)
		overflow := value(b, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		if overflow {
			t.Error("the organisation page scrolls sideways at 390 px")
		}
		b.screenshot(ctx, "organisation-phone")
	})
}

// write stores relationships with the admin key.
func (s *consoleServer) write(t *testing.T, rels ...string) {
	t.Helper()
	var updates []*pb.RelationshipUpdate
	for _, text := range rels {
		r, err := tuple.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		updates = append(updates, &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: protoconv.RelationshipToProto(r)})
	}
	if _, err := pb.NewRelationshipServiceClient(s.conn).WriteRelationships(s.admin, &pb.WriteRelationshipsRequest{Updates: updates, Reason: "test fixture"}); err != nil {
		t.Fatal(err)
	}
}

// countRels counts stored relationships organization:org#relation@user:user.
func (s *consoleServer) countRels(t *testing.T, org, relation, user string) int {
	t.Helper()
	stream, err := pb.NewRelationshipServiceClient(s.conn).ReadRelationships(s.admin, &pb.ReadRelationshipsRequest{
		Consistency: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}},
		Filter: &pb.RelationshipFilter{ResourceType: "organization", ResourceIds: []string{org}, Relation: relation,
			SubjectFilter: &pb.SubjectFilter{Type: "user", Ids: []string{user}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// getWithCookie fetches a console page with a session cookie, not following
// redirects, and returns the status.
func (s *consoleServer) getWithCookie(t *testing.T, path, session string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	req.AddCookie(&http.Cookie{Name: "pemba_console", Value: session})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

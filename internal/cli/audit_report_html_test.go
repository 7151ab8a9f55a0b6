package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath is the browser the HTML report is checked in. The test fails, not
// skips, when it is missing: the report's offline readability is a requirement.
const chromiumPath = "/usr/bin/chromium"

// TestAuditReportHTMLInBrowser writes the HTML report through the real binary, opens
// the file in headless Chromium with the network off, checks what a reader sees, and
// saves a screenshot.
func TestAuditReportHTMLInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("headless Chromium is needed at %s to check the HTML report: %v", chromiumPath, err)
	}
	admin, _ := reportFixture(t)
	file := filepath.Join(t.TempDir(), "acme-eu.html")
	admin.ok("audit", "report", "--org", "organization:acme-eu", "--from", "1h", "--permission", "view,manage", "-o", "html", "--file", file)
	page := string(mustRead(t, file))
	for _, banned := range []string{"<script", "src=\"http", "href=\"http", "@import", "url("} {
		if strings.Contains(page, banned) {
			t.Fatalf("the report is not self-contained: it contains %q", banned)
		}
	}

	// The whole browser lives within this bound, so a stuck browser fails the test.
	bound, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1280, 2000))
	actx, cancel := chromedp.NewExecAllocator(bound, opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	// The network is off before the page loads: the file must read on its own.
	offline := func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}},
		})
		return chromedp.Void{}, err
	}
	if err := chromedp.Do(ctx, offline, chromedp.Navigate("file://"+file)); err != nil {
		t.Fatalf("loading the report in Chromium: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s in the browser: %v", sel, err)
		}
		return s
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if heading := text("h1"); title != "Evidence report: organization:acme-eu (default)" || heading != "Evidence report: organization:acme-eu" {
		t.Fatalf("title %q, heading %q", title, heading)
	}
	for what, wants := range map[string][]string{
		"#access + table":    {"user:dan", "view", "document:q3", "document:q3#project@project:apollo", "on behalf of user:carol, rule “grant ", "via organization:acme-eu"},
		"#grants + table":    {"organization:acme-eu#member@user:dan", "user:carol via organization:acme-eu", "cover for carol", "grant admin by manage expiring within 90d"},
		"#changes + table":   {"offboard", "alice leaves", "deleted organization:acme-eu#member@user:alice", "refused:", "apps too"},
		"#decisions + table": {"check", "user:dan", "allowed", "user:alice", "denied"},
		"table.meta":         {"default", "complete", "on"},
	} {
		shown := text(what)
		for _, w := range wants {
			if !strings.Contains(shown, w) {
				t.Fatalf("%s as the browser shows it lacks %q:\n%s", what, w, shown)
			}
		}
	}
	// The page loaded no resource besides itself.
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType("resource").length`))
	if err != nil || loaded != 0 {
		t.Fatalf("the page loaded %d resources (%v): it must need nothing but its own file", loaded, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir, err := os.MkdirTemp("", "pemba-report-screenshot-")
	if err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "acme-eu-report.png")
	if err := os.WriteFile(png, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the HTML report: %s (%d bytes)", png, len(shot))
}

package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPreviewsMatchWhatHappens previews, through the CLI binary and over REST, what a
// removal and an offboarding would end; checks that previewing wrote nothing; then
// performs the offboarding and checks that exactly the previewed grants stopped
// counting.
func TestPreviewsMatchWhatHappens(t *testing.T) {
	p, admin := setupB2B(t)
	admin.ok("rel", "write", "organization:globex#admin@user:gina", "project:zeus#partner@organization:globex", "--reason", "partner contract")
	expiry := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	admin.ok("rel", "write", "project:zeus#partner_viewer@user:erin[expiration:"+expiry+"]", "--as", "user:gina", "--reason", "share zeus")
	admin.ok("check", "project:zeus", "partner_viewer", "user:erin", "--consistency", "fully_consistent")

	// What would end if erin left globex: her grant, by its grantee condition.
	r := admin.ok("access", "what-if", "--remove", "organization:globex#member@user:erin")
	mustContain(t, r, r.stdout, "1 delegated grant(s) would stop counting",
		"project:zeus#partner_viewer@user:erin[granted:user:gina@organization:globex]",
		"ends: grantee in organization#active_member (organization:globex active_member user:erin)",
		"x organization:globex#member@user:erin")
	r = admin.expect(exitError, "access", "what-if", "--remove", "organization:globex#member@user:nobody")
	mustContain(t, r, r.stderr, "INVALID_ARGUMENT", "is not stored at revision")
	r = admin.expect(exitError, "access", "what-if")
	mustContain(t, r, r.stderr, "--remove is required")

	// The same question over REST.
	body := `{"remove": [{"resource": {"type": "organization", "id": "globex"}, "relation": "member", "subject": {"type": "user", "id": "erin"}}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.httpAddr+"/v1/governance/what-if", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cliAdminSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var wi struct {
		Ending []struct {
			Rule   string `json:"rule"`
			Broken []struct {
				Condition string `json:"condition"`
			} `json:"broken"`
		} `json:"ending"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&wi); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("REST what-if: status %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if len(wi.Ending) != 1 || len(wi.Ending[0].Broken) != 1 || wi.Ending[0].Broken[0].Condition != "grantee in organization#active_member" {
		t.Fatalf("REST what-if: %+v", wi)
	}

	// Offboarding gina from globex, previewed: her admin role goes, and erin's grant
	// stops counting because its grantor can no longer grant it.
	type preview struct {
		DryRun  bool `json:"dry_run"`
		Removed []struct {
			Text string `json:"relationship"`
		} `json:"removed"`
		Ending []endingGrantJSON `json:"ending"`
	}
	dry := admin.ok("offboard", "user:gina", "--org", "organization:globex", "--reason", "left globex", "--dry-run", "-o", "json")
	pv := decodeJSON[preview](t, dry)
	if !pv.DryRun || len(pv.Ending) != 1 || pv.Ending[0].Broken[0].Condition != "grantor can grant" ||
		!strings.Contains(pv.Ending[0].Broken[0].Check, "project:zeus grant:partner_viewer user:gina") {
		t.Fatalf("offboard preview: %s", dry.stdout)
	}
	text := admin.ok("offboard", "user:gina", "--org", "organization:globex", "--reason", "left globex", "--dry-run")
	mustContain(t, text, text.stdout, "dry run: would remove 1 relationship(s) of user:gina", "organization:globex#admin@user:gina",
		"1 delegated grant(s) would stop counting", "ends: grantor can grant")
	// Nothing was written: the grant still counts, and the audit has no offboarding.
	admin.ok("check", "project:zeus", "partner_viewer", "user:erin", "--consistency", "fully_consistent")
	if a := admin.ok("audit", "--actor", "user:gina"); strings.Contains(a.stdout, "left globex") {
		t.Fatalf("the dry run was audited:\n%s", a.stdout)
	}

	// Perform it: what the preview said is what happens.
	done := admin.ok("offboard", "user:gina", "--org", "organization:globex", "--reason", "left globex")
	mustContain(t, done, done.stdout, "removed 1 relationship(s) of user:gina", "organization:globex#admin@user:gina")
	admin.expect(exitNo, "check", "project:zeus", "partner_viewer", "user:erin", "--consistency", "fully_consistent")
}

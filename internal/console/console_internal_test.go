package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestConfigValidateNamesTheSetting(t *testing.T) {
	good := Config{Issuer: "https://login.example.com", ClientID: "c", RedirectURL: "https://pdp.example.com/console/callback"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("operators-only config: %v", err)
	}
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"plain-http issuer":     {func(c *Config) { c.Issuer = "http://login.example.com" }, "must be an https URL"},
		"no client id":          {func(c *Config) { c.ClientID = "" }, "--console-client-id"},
		"no redirect":           {func(c *Config) { c.RedirectURL = "" }, "--console-redirect-url"},
		"wrong callback path":   {func(c *Config) { c.RedirectURL = "https://pdp.example.com/cb" }, "must have the path /console/callback"},
		"http redirect":         {func(c *Config) { c.RedirectURL = "http://pdp.example.com/console/callback" }, "must be https"},
		"bad subject type":      {func(c *Config) { c.SubjectType = "User Type" }, "console subject type"},
		"client without issuer": {func(c *Config) { c.Issuer = "" }, "--console-issuer"},
	} {
		c := good
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
	loop := Config{Issuer: "http://127.0.0.1:5556", ClientID: "c", RedirectURL: "http://localhost:8080/console/callback"}
	if err := loop.Validate(); err != nil {
		t.Errorf("plain HTTP on loopback is for development and allowed: %v", err)
	}
}

func TestBuildTreeNestsAndSurvivesCycles(t *testing.T) {
	roots := buildTree([]string{"eu", "acme", "lab", "x", "y"}, map[string]string{
		"eu": "acme", "lab": "eu", "acme": "outside", "x": "y", "y": "x",
	})
	var show func(ns []*orgNode) string
	show = func(ns []*orgNode) string {
		var parts []string
		for _, n := range ns {
			parts = append(parts, n.ID+"("+show(n.Children)+")")
		}
		return strings.Join(parts, " ")
	}
	// acme's parent is not administered, so it is a root; x and y point at each
	// other, so neither hides the other: both are roots.
	if got := show(roots); got != "acme(eu(lab())) x() y()" {
		t.Errorf("tree = %s", got)
	}
}

func TestParseExpiry(t *testing.T) {
	for in, want := range map[string]string{
		"2027-01-02T03:04":          "2027-01-02T03:04:00Z",
		"2027-01-02T03:04:05":       "2027-01-02T03:04:05Z",
		"2027-01-02T03:04:05+02:00": "2027-01-02T01:04:05Z",
		"2027-01-02":                "2027-01-02T00:00:00Z",
	} {
		got, err := parseExpiry(in)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("parseExpiry(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := parseExpiry("next tuesday"); err == nil || !strings.Contains(err.Error(), "expires:") {
		t.Errorf("a bad expiry gives %v", err)
	}
}

// FuzzMemberForm feeds arbitrary form values to the parser of member forms: it
// never panics, and whatever it accepts is a relationship the API's own decoder
// accepts too.
func FuzzMemberForm(f *testing.F) {
	f.Add("bob", "member", "2027-01-01T10:00")
	f.Add("group:eng#member", "admin", "")
	f.Add("user:*", "member", "2027-01-01")
	f.Add(":", "#", "9999-99-99")
	f.Add(strings.Repeat("a", 2000), "viewer", "2027-01-01T10:00:00+14:00")
	h := &Handler{cfg: Config{}.withDefaults()}
	org := tuple.ObjectRef{Type: "organization", ID: "acme"}
	f.Fuzz(func(t *testing.T, subject, relation, expires string) {
		r := &http.Request{PostForm: url.Values{"subject": {subject}, "relation": {relation}, "expires": {expires}}}
		rel, err := formValues{r: r}.relationship(h, org, "relation", "expires")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if _, err := protoconv.RelationshipFromProto("relationship", rel); err != nil {
			t.Fatalf("the form parser accepted %q %q %q, which the API's decoder refuses: %v", subject, relation, expires, err)
		}
	})
}

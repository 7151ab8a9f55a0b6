package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
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

// The graph keeps the granting path, merges steps on one relation, and places
// every box inside the drawing without overlaps in a row.
func TestExplanationGraph(t *testing.T) {
	allowed, denied := pb.Permissionship_PERMISSIONSHIP_ALLOWED, pb.Permissionship_PERMISSIONSHIP_DENIED
	doc := &pb.ObjectReference{Type: "document", Id: "d"}
	leaf := func(rel string, r pb.Permissionship) *pb.ExplainNode {
		return &pb.ExplainNode{Kind: "relation", Resource: doc, Relation: rel, Result: r}
	}
	root := &pb.ExplainNode{Kind: "permission", Resource: doc, Relation: "view", Result: allowed, Children: []*pb.ExplainNode{
		{Kind: "union", Resource: doc, Relation: "view", Result: allowed, Children: []*pb.ExplainNode{
			leaf("viewer", denied), leaf("editor", allowed),
			{Kind: "exclusion", Resource: doc, Relation: "x", Result: allowed, Children: []*pb.ExplainNode{leaf("a", allowed), leaf("b", denied)}},
		}},
	}}
	g := layout(collapse(grantingPath(root)))
	var lines []string
	for _, n := range g.Nodes {
		lines = append(lines, n.Line1+" "+n.Line2)
		if n.X < 0 || n.Y < 0 || n.X+n.W > g.Width || n.Y+n.H > g.Height {
			t.Errorf("node %q at %d,%d lies outside %dx%d", n.Line1, n.X, n.Y, g.Width, g.Height)
		}
	}
	want := []string{
		"document:d#view permission › union · allowed",
		"document:d#editor relation · allowed",
		"document:d#x exclusion · allowed",
		"document:d#a relation · allowed",
		"document:d#b relation · denied", // an exclusion keeps the branch it subtracts
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("graph nodes:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(g.Edges) != len(g.Nodes)-1 {
		t.Errorf("%d edges for %d nodes of a tree", len(g.Edges), len(g.Nodes))
	}
	rows := map[int][]graphNode{}
	for _, n := range g.Nodes {
		rows[n.Y] = append(rows[n.Y], n)
	}
	for y, row := range rows {
		for i := range row {
			for j := i + 1; j < len(row); j++ {
				if row[i].X < row[j].X+row[j].W && row[j].X < row[i].X+row[i].W {
					t.Errorf("row %d: %q and %q overlap", y, row[i].Line1, row[j].Line1)
				}
			}
		}
	}
	// A wide explanation is cut at the bound, and says so.
	wide := &pb.ExplainNode{Kind: "union", Resource: doc, Relation: "view", Result: denied}
	for range 2 * maxGraphNodes {
		wide.Children = append(wide.Children, leaf("viewer", denied))
	}
	if g := layout(wide); len(g.Nodes) != maxGraphNodes || !g.Cut {
		t.Errorf("wide explanation: %d nodes, cut %v", len(g.Nodes), g.Cut)
	}
}

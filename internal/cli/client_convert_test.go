package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestParseFilter(t *testing.T) {
	cases := []struct {
		in   string
		want *pb.RelationshipFilter
		err  string
	}{
		{in: "document", want: &pb.RelationshipFilter{ResourceType: "document"}},
		{in: "document:q3", want: &pb.RelationshipFilter{ResourceType: "document", ResourceIds: []string{"q3"}}},
		{in: "document:q*", want: &pb.RelationshipFilter{ResourceType: "document", ResourceIdPrefix: "q"}},
		{in: "document#viewer", want: &pb.RelationshipFilter{ResourceType: "document", Relation: "viewer"}},
		{in: "document:q3#viewer@user:alice", want: &pb.RelationshipFilter{ResourceType: "document", ResourceIds: []string{"q3"}, Relation: "viewer",
			SubjectFilter: &pb.SubjectFilter{Type: "user", Ids: []string{"alice"}}}},
		{in: "document@group:eng#member", want: &pb.RelationshipFilter{ResourceType: "document",
			SubjectFilter: &pb.SubjectFilter{Type: "group", Ids: []string{"eng"}, Relations: []string{"member"}}}},
		{in: "document@user:*", want: &pb.RelationshipFilter{ResourceType: "document", SubjectFilter: &pb.SubjectFilter{Type: "user", Ids: []string{"*"}}}},
		{in: "document@user", want: &pb.RelationshipFilter{ResourceType: "document", SubjectFilter: &pb.SubjectFilter{Type: "user"}}},
		{in: "document@user:alice#...", want: &pb.RelationshipFilter{ResourceType: "document",
			SubjectFilter: &pb.SubjectFilter{Type: "user", Ids: []string{"alice"}, Relations: []string{"..."}}}},
		{in: "", err: `resource type "" is empty`},
		{in: "Document", err: "must start with a lower-case letter"},
		{in: "document:", err: "empty resource id after the colon"},
		{in: "document:q 3", err: `contains ' '`},
		{in: "document#", err: `relation "" is empty`},
		{in: "document@", err: `subject type "" is empty`},
	}
	for _, tc := range cases {
		got, err := parseFilter("filter", tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseFilter(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !proto.Equal(got, tc.want) {
			t.Errorf("parseFilter(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseConsistency(t *testing.T) {
	cases := []struct {
		in   string
		want *pb.Consistency
		err  string
	}{
		{in: "", want: nil},
		{in: "minimize_latency", want: &pb.Consistency{Requirement: &pb.Consistency_MinimizeLatency{MinimizeLatency: true}}},
		{in: "fully_consistent", want: &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}},
		{in: "at_least_as_fresh:pt1_abc", want: &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: "pt1_abc"}}},
		{in: "at_exact_snapshot:pt1_abc", want: &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: "pt1_abc"}}},
		{in: "at_exact_snapshot", err: "needs a token"},
		{in: "at_least_as_fresh:", err: "needs a token"},
		{in: "fully_consistent:pt1", err: "is not one of"},
		{in: "strong", err: "is not one of"},
	}
	for _, tc := range cases {
		got, err := parseConsistency(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseConsistency(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !proto.Equal(got, tc.want) {
			t.Errorf("parseConsistency(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "2026-01-31T12:00:00Z", want: time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)},
		{in: "2026-01-31T12:00:00+02:00", want: time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)},
		{in: "2026-01-31", want: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "yesterday", err: true},
		{in: "-5d", err: true},
		{in: "1.5d", err: true},
		{in: "-1h", err: true},
	}
	for _, tc := range cases {
		got, err := parseTime("--since", tc.in, now)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "is not a time") {
				t.Errorf("parseTime(%q) error = %v, want one saying it is not a time", tc.in, err)
			}
			continue
		}
		if err != nil || !got.AsTime().Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got.AsTime(), err, tc.want)
		}
	}
}

func TestParseRelationshipLine(t *testing.T) {
	want := "project:apollo#partner@organization:globex[within_network:{\"allowed_cidr\":\"10.0.0.0/8\"}][expiration:2027-01-01T00:00:00Z]"
	lines := []string{
		want,
		`{"text": "` + strings.ReplaceAll(want, `"`, `\"`) + `", "token": "ignored", "cursor": "ignored"}`,
		`{"resource_type": "project", "resource_id": "apollo", "relation": "partner", "subject_type": "organization", "subject_id": "globex",
		  "caveat": "within_network", "caveat_context": {"allowed_cidr": "10.0.0.0/8"}, "expires_at": "2027-01-01T00:00:00Z"}`,
	}
	for _, l := range lines {
		r, err := parseRelationshipLine(strings.ReplaceAll(l, "\n", ""))
		if err != nil || r.String() != want {
			t.Errorf("parseRelationshipLine(%s) = %s, %v; want %s", l, r, err, want)
		}
	}
	for _, bad := range []string{`{"resource_type": "project"}`, `{"text": 5}`, "project:apollo#partner", `{`} {
		if _, err := parseRelationshipLine(bad); err == nil {
			t.Errorf("parseRelationshipLine(%s) accepted a bad line", bad)
		}
	}
	// A context number survives the round trip through the protobuf Struct.
	r, err := parseRelationshipLine(`document:q3#viewer@user:alice[max_age:{"days":30}]`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := relationshipToProto(r)
	if err != nil || formatRelationship(p) != `document:q3#viewer@user:alice[max_age:{"days":30}]` {
		t.Fatalf("context number round trip: %s, %v", formatRelationship(p), err)
	}
}

func TestParseBulkLine(t *testing.T) {
	item, line, err := parseBulkLine("argument 1", `project:apollo  view user:erin {"client_ip": "10.1.2.3", "note": "a b"}`)
	if err != nil {
		t.Fatal(err)
	}
	if line != (bulkLine{"project:apollo", "view", "user:erin"}) || item.GetResource().GetId() != "apollo" || item.GetSubject().GetId() != "erin" ||
		item.GetContext().GetFields()["note"].GetStringValue() != "a b" {
		t.Fatalf("parseBulkLine: %v %v", line, item)
	}
	for _, bad := range []string{"document:q3 view", "document view user:alice", "document:q3 view user:alice {oops"} {
		if _, _, err := parseBulkLine("line 1", bad); err == nil || !strings.HasPrefix(err.Error(), "line 1") {
			t.Errorf("parseBulkLine(%q) error = %v, want one naming the line", bad, err)
		}
	}
}

// TestFetchPages drives the pager with a fake server of 7 results and a page size of
// 3, which refuses larger pages as a server with --max-page-size 3 does.
func TestFetchPages(t *testing.T) {
	const total, serverPage = 7, 3
	var calls []uint32
	fetch := func(size uint32, cursor string) (page, error) {
		calls = append(calls, size)
		if size > serverPage {
			return page{}, status.Error(codes.InvalidArgument, "limit: 10 exceeds the limit of 3 (server flag --max-page-size)")
		}
		asked := size
		if size == 0 {
			size = serverPage
		}
		start := 0
		if cursor != "" {
			start = int(cursor[0] - '0')
		}
		end := min(start+int(size), total)
		if start >= end {
			return cursorPage(asked, 0, ""), nil
		}
		return cursorPage(asked, uint32(end-start), string(rune('0'+end))), nil
	}
	cases := []struct {
		limit     uint32
		wantTotal uint32
		wantNext  string
		wantCalls []uint32
	}{
		{limit: 0, wantTotal: 7, wantCalls: []uint32{0, 0, 0, 0}},
		{limit: 2, wantTotal: 2, wantNext: "2", wantCalls: []uint32{2}},
		{limit: 3, wantTotal: 3, wantNext: "3", wantCalls: []uint32{3}},
		{limit: 5, wantTotal: 5, wantNext: "5", wantCalls: []uint32{5, 0, 2}},
		{limit: 7, wantTotal: 7, wantNext: "7", wantCalls: []uint32{7, 0, 0, 1}},
		{limit: 20, wantTotal: 7, wantCalls: []uint32{20, 0, 0, 0, 0}},
	}
	for _, tc := range cases {
		calls = nil
		got, next, err := fetchPages(tc.limit, "", fetch)
		if err != nil || got != tc.wantTotal || next != tc.wantNext || !equalUints(calls, tc.wantCalls) {
			t.Errorf("fetchPages(limit %d) = %d, %q, %v after calls %v; want %d, %q after %v",
				tc.limit, got, next, err, calls, tc.wantTotal, tc.wantNext, tc.wantCalls)
		}
	}
	boom := errors.New("boom")
	if _, _, err := fetchPages(0, "", func(uint32, string) (page, error) { return page{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("fetchPages lost the fetch error: %v", err)
	}
}

func equalUints(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWriteExplainTree pins the explanation's text rendering: denied alternatives of
// an allowed union are hidden (and counted) unless full is set, exclusions keep both
// sides, and provenance follows its relationship.
func TestWriteExplainTree(t *testing.T) {
	allowed, denied := pb.Permissionship_PERMISSIONSHIP_ALLOWED, pb.Permissionship_PERMISSIONSHIP_DENIED
	doc := &pb.ObjectReference{Type: "document", Id: "q3"}
	alice := &pb.SubjectReference{Type: "user", Id: "alice"}
	root := &pb.ExplainNode{
		Kind: "permission", Resource: doc, Relation: "view", Expression: "(viewer + editor) - banned", Subject: alice, Result: allowed,
		Duration: durationpb.New(1500 * time.Microsecond),
		Children: []*pb.ExplainNode{{
			Kind: "exclusion", Expression: "(viewer + editor) - banned", Result: allowed,
			Children: []*pb.ExplainNode{
				{Kind: "union", Expression: "viewer + editor", Result: allowed, Children: []*pb.ExplainNode{
					{Kind: "relation", Resource: doc, Relation: "viewer", Subject: alice, Result: denied, Cached: true},
					{Kind: "relation", Resource: doc, Relation: "editor", Subject: alice, Result: allowed, Duration: durationpb.New(40 * time.Microsecond),
						Children: []*pb.ExplainNode{{
							Kind: "relationship", Result: allowed,
							Relationship: &pb.Relationship{Resource: doc, Relation: "editor", Subject: alice},
							Provenance:   &pb.Provenance{Principal: "portal", Actor: &pb.SubjectReference{Type: "user", Id: "bob"}, Rule: "grant editor by manage", Via: &pb.ObjectReference{Type: "organization", Id: "acme"}, Reason: "q3 review"},
						}}},
				}},
				{Kind: "relation", Resource: doc, Relation: "banned", Subject: alice, Result: denied},
			},
		}},
	}
	var b strings.Builder
	writeExplainTree(&b, root, false)
	want := `document:q3#view permission = (viewer + editor) - banned for user:alice  allowed  1.50ms
└── exclusion  allowed
    ├── union viewer + editor  allowed
    │   ├── document:q3#editor relation  allowed  40µs
    │   │   └── document:q3#editor@user:alice  allowed
    │   │         written by key portal on behalf of user:bob, rule "grant editor by manage" via organization:acme, reason "q3 review"
    │   └── (1 denied alternative(s) not shown; --explain-full shows them)
    └── document:q3#banned relation  denied
`
	if b.String() != want {
		t.Fatalf("explain tree:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeExplainTree(&b, root, true)
	if !strings.Contains(b.String(), "    │   ├── document:q3#viewer relation  denied  cached\n") || strings.Contains(b.String(), "not shown") {
		t.Fatalf("full explain tree:\n%s", b.String())
	}
}

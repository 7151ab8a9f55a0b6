package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// advRace is one way of taking a delegate's authority away while it grants.
type advRace struct {
	name string
	// setup is written once; restore gives the authority back before each round.
	setup, restore []string
	// revoke is the admin's request that takes the authority away.
	revoke func() (advMethod, proto.Message)
	// grantOn is the organisation whose members eve adds.
	grantOn string
}

func adminWrite(lines ...string) func() (advMethod, proto.Message) {
	return func() (advMethod, proto.Message) {
		req := &pb.WriteRelationshipsRequest{Reason: "revocation"}
		for _, l := range lines {
			op, rel, _ := cutOp(l)
			req.Updates = append(req.Updates, &pb.RelationshipUpdate{Operation: op, Relationship: protoconv.RelationshipToProto(tuple.MustParse(rel))})
		}
		return advMethods["write"], req
	}
}

func cutOp(l string) (pb.RelationshipUpdate_Operation, string, bool) {
	for name, op := range map[string]pb.RelationshipUpdate_Operation{
		"touch ": pb.RelationshipUpdate_OPERATION_TOUCH, "delete ": pb.RelationshipUpdate_OPERATION_DELETE,
	} {
		if len(l) > len(name) && l[:len(name)] == name {
			return op, l[len(name):], true
		}
	}
	panic("want touch or delete: " + l)
}

var advRaces = []advRace{
	{name: "the admin role is deleted",
		restore: []string{"touch organization:acme-eu#admin@user:eve"},
		revoke:  adminWrite("delete organization:acme-eu#admin@user:eve"), grantOn: "acme-eu"},
	{name: "the delegate is suspended",
		restore: []string{"delete organization:acme-eu#suspended@user:eve"},
		revoke:  adminWrite("touch organization:acme-eu#suspended@user:eve"), grantOn: "acme-eu"},
	{name: "the organisation is detached from the delegate's",
		restore: []string{"touch organization:acme-eu-sales#parent@organization:acme-eu"},
		revoke:  adminWrite("delete organization:acme-eu-sales#parent@organization:acme-eu"), grantOn: "acme-eu-sales"},
	{name: "the delegate leaves the group that holds the role",
		setup:   []string{"touch organization:acme-eu#admin@group:eu-admins#member", "delete organization:acme-eu#admin@user:eve"},
		restore: []string{"touch group:eu-admins#member@user:eve"},
		revoke:  adminWrite("delete group:eu-admins#member@user:eve"), grantOn: "acme-eu"},
	{name: "the delegate is offboarded",
		restore: []string{"touch organization:acme-eu#admin@user:eve"},
		revoke: func() (advMethod, proto.Message) {
			return advMethods["offboard"], &pb.OffboardRequest{Subject: &pb.SubjectReference{Type: "user", Id: "eve"},
				Organization: &pb.ObjectReference{Type: "organization", Id: "acme-eu"}, Reason: "revocation"}
		}, grantOn: "acme-eu"},
}

// TestAdversarialRevocationRaces races an administrator taking a delegate's authority
// away, in five ways, against the delegate's concurrent grants over gRPC and REST.
// Every grant has exactly one outcome: committed before the revocation (and present
// afterwards), or refused (absent, with its denial in the audit trail, recorded after
// the revocation). No grant commits after the revocation, and once it has committed
// every grant is refused. Rounds are bounded in count and time; both outcomes must be
// seen, or the race was not exercised.
func TestAdversarialRevocationRaces(t *testing.T) {
	f := loadAdversarial(t)
	for _, race := range advRaces {
		t.Run(race.name, func(t *testing.T) {
			granted, refused := 0, 0
			for _, transport := range []string{"grpc", "rest"} {
				g, r := raceRounds(t, f, race, transport)
				t.Logf("%s: %d grants committed before the revocation, %d refused after it", transport, g, r)
				granted += g
				refused += r
			}
			if granted == 0 || refused == 0 {
				t.Errorf("%d grants committed and %d refused: the revocation never raced the grants", granted, refused)
			}
		})
	}
}

// raceRounds runs the rounds of one race over one transport and counts the outcomes.
func raceRounds(t *testing.T, f advFile, race advRace, transport string) (granted, refused int) {
	p := placeholders{now: time.Now(), tokens: map[string]string{}}
	ts := advServer(t, f, func(s string) string { return p.expand(t, s) })
	if len(race.setup) > 0 {
		mustAdmin(t, ts, race.setup...)
	}
	const grants = 6
	deadline := time.Now().Add(15 * time.Second)
	for round := 0; round < 10 || (granted == 0 || refused == 0) && round < 60 && time.Now().Before(deadline); round++ {
		mustAdmin(t, ts, race.restore...)
		start := ts.heads(t)[tuple.DefaultTenant]
		rels := make([]string, grants)
		bodies := make([][]byte, grants)
		msgs := make([]proto.Message, grants)
		for i := range grants {
			rels[i] = fmt.Sprintf("organization:%s#member@user:r%d-%d", race.grantOn, round, i)
			r := advRequest{Actor: "user:eve", Reason: "race", Updates: []string{"create " + rels[i]}}
			msgs[i] = r.build(t, p)
			body, err := protojson.Marshal(msgs[i])
			if err != nil {
				t.Fatal(err)
			}
			bodies[i] = body
		}
		outcomes := make([]advOutcome, grants)
		errs := make([]error, grants)
		var revoked advOutcome
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range grants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				if transport == "grpc" {
					outcomes[i] = ts.sendGRPC(advMethods["write"], delegateSecret, nil, msgs[i])
					return
				}
				outcomes[i], errs[i] = ts.postREST(advMethods["write"], delegateSecret, nil, bodies[i])
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			m, req := race.revoke()
			revoked = ts.sendGRPC(m, adminSecret, nil, req)
		}()
		close(gate)
		wg.Wait()
		if revoked.code != codes.OK {
			t.Fatalf("round %d: revocation: %v %s", round, revoked.code, revoked.msg)
		}
		revokedAt := advTokenOf(t, ts, revoked.resp)
		g, r := checkRaceRound(t, ts, round, rels, outcomes, errs, start, revokedAt)
		granted += g
		refused += r

		// The revocation stands: the next grant is refused.
		after := advRequest{Actor: "user:eve", Updates: []string{fmt.Sprintf("create organization:%s#member@user:after-%d", race.grantOn, round)}}
		if out := ts.sendGRPC(advMethods["write"], delegateSecret, nil, after.build(t, p)); out.code != codes.PermissionDenied {
			t.Fatalf("round %d: a grant after the revocation: %v %s", round, out.code, out.msg)
		}
	}
	return granted, refused
}

// checkRaceRound checks one round's outcomes against the store and the audit trail.
func checkRaceRound(t *testing.T, ts *testServer, round int, rels []string, outcomes []advOutcome, errs []error, start, revokedAt datastore.Revision) (granted, refused int) {
	t.Helper()
	// By key: a delegated grant is stored with its grantor ([granted:...]).
	present := map[string]bool{}
	for _, r := range ts.relationshipsOf(t)[tuple.DefaultTenant] {
		present[tuple.MustParse(r).Key().String()] = true
	}
	denied := advDenials(t, ts, start)
	for i, out := range outcomes {
		if errs[i] != nil {
			t.Fatalf("round %d: grant %s: %v", round, rels[i], errs[i])
		}
		switch out.code {
		case codes.OK:
			granted++
			if rev := advTokenOf(t, ts, out.resp); rev >= revokedAt {
				t.Errorf("round %d: %s committed at revision %d, after the revocation at %d", round, rels[i], rev, revokedAt)
			}
			if !present[keyOf(rels[i])] || len(denied[rels[i]]) != 0 {
				t.Errorf("round %d: %s was granted but is present=%v, denial records at %v", round, rels[i], present[keyOf(rels[i])], denied[rels[i]])
			}
		case codes.PermissionDenied:
			refused++
			if present[keyOf(rels[i])] {
				t.Errorf("round %d: %s was refused but is stored", round, rels[i])
			}
			if d := denied[rels[i]]; len(d) != 1 || d[0] <= revokedAt {
				t.Errorf("round %d: refused grant %s has denial records at %v, want one after the revocation at %d", round, rels[i], d, revokedAt)
			}
		default:
			t.Errorf("round %d: %s: unexpected outcome %v %s", round, rels[i], out.code, out.msg)
		}
	}
	return granted, refused
}

// advDenials reads eve's denial records committed after revision since, through the
// AuditService: per attempted relationship, the revisions of its denials.
func advDenials(t *testing.T, ts *testServer, since datastore.Revision) map[string][]datastore.Revision {
	t.Helper()
	out := map[string][]datastore.Revision{}
	page := ""
	for {
		resp, err := ts.audit().ReadAuditLog(as(adminSecret), &pb.ReadAuditLogRequest{Actor: &pb.SubjectReference{Type: "user", Id: "eve"}, PageSize: 100, PageToken: page})
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range resp.GetTransactions() {
			rev := tokenRevision(t, ts, tx.GetToken())
			if rev <= since {
				return out
			}
			for _, u := range tx.GetMetadata().GetDenied().GetUpdates() {
				rel, err := protoconv.RelationshipFromProto("r", u.GetRelationship())
				if err != nil {
					t.Fatal(err)
				}
				out[tuple.Format(rel)] = append(out[tuple.Format(rel)], rev)
			}
		}
		if page = resp.GetNextPageToken(); page == "" {
			return out
		}
	}
}

// advTokenOf is the revision of a write's or offboarding's response token.
func advTokenOf(t *testing.T, ts *testServer, resp proto.Message) datastore.Revision {
	t.Helper()
	tok, ok := resp.(interface{ GetToken() string })
	if !ok {
		t.Fatalf("response %T has no token", resp)
	}
	return tokenRevision(t, ts, tok.GetToken())
}

func mustAdmin(t *testing.T, ts *testServer, lines ...string) {
	t.Helper()
	_, req := adminWrite(lines...)()
	if out := ts.sendGRPC(advMethods["write"], adminSecret, nil, req); out.code != codes.OK {
		t.Fatalf("admin write %v: %v %s", lines, out.code, out.msg)
	}
}

func keyOf(rel string) string { return tuple.MustParse(rel).Key().String() }

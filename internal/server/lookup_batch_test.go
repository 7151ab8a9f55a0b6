package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/pemba-authz/pemba/client"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// lookupFixture writes n documents alice views directly, 300 more she views through a
// group, a public document, and a document with 1,100 viewers and the group.
func lookupFixture(t *testing.T, ts *testServer, n int) *pb.Consistency {
	t.Helper()
	ts.writeSchema(t, "")
	var rels []string
	for i := range n {
		rels = append(rels, fmt.Sprintf("document:d%04d#viewer@user:alice", i))
	}
	for i := range 300 {
		rels = append(rels, fmt.Sprintf("document:g%03d#viewer@group:eng#member", i))
	}
	rels = append(rels, "group:eng#member@user:alice", "document:pub#viewer@user:*", "document:wide#viewer@group:eng#member")
	for i := range 1100 {
		rels = append(rels, fmt.Sprintf("document:wide#viewer@user:u%04d", i))
	}
	var tok string
	for len(rels) > 0 {
		k := min(len(rels), 500)
		tok = ts.touch(t, "", rels[:k]...)
		rels = rels[k:]
	}
	return &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: tok}}
}

// resourcePages reads LookupResources the way a client that predates batching does
// (batch 0: one result per message, single fields) or in the batched form, following
// cursors in pages of limit; it returns the results as "id/permissionship" and the
// number of messages.
func resourcePages(t *testing.T, ts *testServer, at *pb.Consistency, limit, batch uint32) ([]string, int) {
	t.Helper()
	var out []string
	msgs, cursor := 0, ""
	for range 100 {
		s, err := ts.permissions().LookupResources(as(readerSecret), &pb.LookupResourcesRequest{
			Consistency: at, ResourceType: "document", Permission: "view",
			Subject: &pb.SubjectReference{Type: "user", Id: "alice"}, Limit: limit, Cursor: cursor, BatchSize: batch,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("LookupResources (batch %d): %v", batch, err)
			}
			msgs++
			if batch == 0 {
				if len(m.GetResults()) != 0 {
					t.Fatalf("an unbatched lookup got a batch of %d", len(m.GetResults()))
				}
				out = append(out, m.GetResourceId()+"/"+m.GetPermissionship().String())
				cursor = m.GetCursor()
				got++
				continue
			}
			if m.GetResourceId() != "" || len(m.GetResults()) == 0 || len(m.GetResults()) > int(batch) || m.GetToken() == "" {
				t.Fatalf("a batched message: resource_id %q, %d results (batch %d), token %q", m.GetResourceId(), len(m.GetResults()), batch, m.GetToken())
			}
			for _, r := range m.GetResults() {
				out = append(out, r.GetResourceId()+"/"+r.GetPermissionship().String())
				cursor = r.GetCursor()
				got++
			}
		}
		if got < int(limit) {
			return out, msgs
		}
	}
	t.Fatal("the lookup did not end in 100 pages")
	return nil, 0
}

// TestLookupResourcesBatched checks that old and batched clients get the same results,
// page by page, and that batching sends one message per batch.
func TestLookupResourcesBatched(t *testing.T) {
	ts := startServer(t, nil)
	at := lookupFixture(t, ts, 1250)
	old, oldMsgs := resourcePages(t, ts, at, 400, 0)
	if len(old) != 1250+300+1+1 || oldMsgs != len(old) {
		t.Fatalf("the unbatched lookup: %d results in %d messages", len(old), oldMsgs)
	}
	for _, batch := range []uint32{1, 7, 100, 400, 5000} {
		got, msgs := resourcePages(t, ts, at, 400, batch)
		if !slices.Equal(got, old) {
			t.Fatalf("batch %d: %d results differ from the unbatched %d", batch, len(got), len(old))
		}
		per := int(min(batch, 400, 1000))
		pages := (len(old) + 399) / 400
		if want := pages * ((400 + per - 1) / per); msgs > want {
			t.Errorf("batch %d: %d messages, want at most %d", batch, msgs, want)
		}
	}

	// The Go client asks for batches and yields the same results.
	c, err := client.New(ts.GRPCAddr(), client.WithKey(readerSecret), client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var fromClient []string
	for r, err := range c.LookupResources(as(""), &pb.LookupResourcesRequest{
		Consistency: at, ResourceType: "document", Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "alice"}, Limit: 5000,
	}) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Token == "" {
			t.Fatal("a client result without the token")
		}
		fromClient = append(fromClient, r.Result.GetResourceId()+"/"+r.Result.GetPermissionship().String())
	}
	if !slices.Equal(fromClient, old) {
		t.Fatalf("the client's lookup: %d results differ from the unbatched %d", len(fromClient), len(old))
	}

	// REST: the same body with batch_size answers newline-delimited batches.
	rest := func(batch int) []string {
		code, raw := ts.restRaw(t, "POST", "/v1/permissions/resources", readerSecret, fmt.Sprintf(
			`{"consistency":{"at_exact_snapshot":%q},"resource_type":"document","permission":"view","subject":{"type":"user","id":"alice"},"limit":5000,"batch_size":%d}`,
			at.GetAtExactSnapshot(), batch))
		if code != http.StatusOK {
			t.Fatalf("REST lookup (batch %d): %d %s", batch, code, raw)
		}
		var ids []string
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 1<<22)
		for sc.Scan() {
			lines++
			var line struct {
				Result struct {
					ResourceID     string `json:"resource_id"`
					Permissionship string `json:"permissionship"`
					Results        []struct {
						ResourceID     string `json:"resource_id"`
						Permissionship string `json:"permissionship"`
					} `json:"results"`
				} `json:"result"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if batch == 0 {
				ids = append(ids, line.Result.ResourceID+"/"+line.Result.Permissionship)
			}
			for _, r := range line.Result.Results {
				ids = append(ids, r.ResourceID+"/"+r.Permissionship)
			}
		}
		if batch > 0 && lines != (len(old)+batch-1)/batch {
			t.Errorf("REST lookup (batch %d): %d lines for %d results", batch, lines, len(ids))
		}
		return ids
	}
	if a, b := rest(0), rest(250); !slices.Equal(a, old) || !slices.Equal(b, old) {
		t.Fatalf("REST lookups: %d unbatched and %d batched results, gRPC %d", len(a), len(b), len(old))
	}
}

// TestLookupSubjectsBatched checks LookupSubjects the same way, wildcards included.
func TestLookupSubjectsBatched(t *testing.T) {
	ts := startServer(t, nil)
	at := lookupFixture(t, ts, 10)
	subjects := func(resource string, batch uint32) []string {
		s, err := ts.permissions().LookupSubjects(as(readerSecret), &pb.LookupSubjectsRequest{
			Consistency: at, Resource: &pb.ObjectReference{Type: "document", Id: resource}, Permission: "view",
			SubjectType: "user", BatchSize: batch,
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			if batch == 0 && len(m.GetResults()) > 0 || batch > 0 && (m.GetSubjectId() != "" || len(m.GetResults()) > int(batch)) {
				t.Fatalf("batch %d: a message with subject %q and %d results", batch, m.GetSubjectId(), len(m.GetResults()))
			}
			for _, r := range client.SubjectResults(m) {
				out = append(out, fmt.Sprintf("%s/%s/%v", r.GetSubjectId(), r.GetPermissionship(), r.GetExcludedSubjectIds()))
			}
		}
	}
	for _, resource := range []string{"wide", "pub"} {
		old := subjects(resource, 0)
		if resource == "wide" && len(old) != 1101 || resource == "pub" && len(old) != 1 {
			t.Fatalf("%s: %d subjects", resource, len(old))
		}
		for _, batch := range []uint32{1, 64, 2000} {
			if got := subjects(resource, batch); !slices.Equal(got, old) {
				t.Fatalf("%s, batch %d: %d subjects differ from the unbatched %d", resource, batch, len(got), len(old))
			}
		}
	}
}

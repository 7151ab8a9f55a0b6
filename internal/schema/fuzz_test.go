package schema

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzCompile feeds arbitrary text to the compiler. It must never panic or hang;
// errors must point inside the source; and whatever compiles must format to text
// that compiles to the same model.
func FuzzCompile(f *testing.F) {
	for _, cs := range corpusSchemas(f) {
		f.Add(cs.Schema)
	}
	fixtures, _ := filepath.Glob("testdata/errors/*.zed")
	formatted, _ := filepath.Glob("testdata/format/*.zed")
	fixtures = append(fixtures, formatted...)
	for _, p := range fixtures {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("definition user {}\ndefinition org { relation admin: user\n relation member: user\n permission manage = admin\n grant member by manage expiring within 90d }")
	f.Add("use expiration\ndefinition user {}\ndefinition org { relation admin: user\n relation member: user\n permission manage = admin }\n" +
		"definition doc { relation owner: org\n relation viewer: user | user with expiration\n permission manage = owner->manage\n" +
		" grant viewer by manage expiring within 30d while grantee in org#member and grantor can grant // bound\n" +
		" approve viewer by manage and manage on requester for at most 7d requester in org#member }")
	f.Add("definition user {}\ndefinition doc { relation a: user\n /* x */ approve a by a and a\n grant a by a while grantor can grant }\n// end")
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Compile("fuzz.zed", src)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
			}
			lines := strings.Count(src, "\n") + 1
			for _, e := range list {
				if e.Pos.Line < 1 || e.Pos.Line > lines || e.Pos.Col < 1 {
					t.Fatalf("error outside the source (%d lines): %v", lines, e)
				}
			}
			_ = err.Error()
			return
		}
		out := Format(s)
		again, err := Compile("formatted.zed", out)
		if err != nil {
			t.Fatalf("formatted schema does not compile: %v\n--- source ---\n%s\n--- formatted ---\n%s", err, src, out)
		}
		if d := cmp.Diff(s, again, modelOptions); d != "" {
			t.Fatalf("formatting changed the model:\n%s\n--- source ---\n%s\n--- formatted ---\n%s", d, src, out)
		}
		checkComments(t, "fuzz.zed", src, out, false)
	})
}

// bigSchema generates a schema with n definitions in the shape of a B2B model: each
// definition has relations (direct, subject sets, wildcards, caveats, expiration),
// permissions with arrows to the previous definition, and a grant rule.
func bigSchema(n int) string {
	var b strings.Builder
	b.WriteString("use expiration\n\ndefinition user {}\n\n")
	b.WriteString("caveat ip_allowed(ip ipaddress, cidrs list<string>) {\n\tcidrs.exists(c, ip.in_cidr(c))\n}\n\n")
	b.WriteString("caveat on_weekday(day int) {\n\tday >= 1 && day <= 5\n}\n\n")
	b.WriteString("definition group {\n\trelation member: user | group#member\n}\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "/** Resource type %d. */\n", i)
		fmt.Fprintf(&b, "definition acme/res%d {\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "\trelation parent: acme/res%d\n", i-1)
		} else {
			b.WriteString("\trelation parent: group\n")
		}
		b.WriteString("\trelation owner: user | group#member\n")
		b.WriteString("\trelation editor: user | group#member | user with ip_allowed | user with expiration\n")
		b.WriteString("\trelation viewer: user | user:* | group#member | user with expiration\n")
		b.WriteString("\trelation banned: user | user with on_weekday and expiration\n")
		if i > 0 {
			b.WriteString("\tpermission admin = owner + parent->admin\n")
			b.WriteString("\tpermission edit = (editor + admin) - banned\n")
			b.WriteString("\tpermission view = (viewer + edit + parent->view) - banned\n")
			b.WriteString("\tpermission view_all = parent.all(view) & viewer\n")
		} else {
			b.WriteString("\tpermission admin = owner + parent->member\n")
			b.WriteString("\tpermission edit = (editor + admin) - banned\n")
			b.WriteString("\tpermission view = viewer + edit - banned\n")
			b.WriteString("\tpermission view_all = parent.all(member) & viewer\n")
		}
		b.WriteString("\tgrant viewer, editor by admin expiring within 90d\n")
		b.WriteString("}\n\n")
	}
	return b.String()
}

func TestBigSchemaCompiles(t *testing.T) {
	s := mustCompile(t, bigSchema(20))
	if len(s.Definitions) != 22 {
		t.Errorf("got %d definitions", len(s.Definitions))
	}
}

// BenchmarkCompile500 compiles a generated 500-definition schema; the target is
// under 50 ms per compile on the development machine. Besides wall time it reports
// cpu-ms/op (process CPU time, GC included), which stays meaningful when other work
// shares the machine.
func BenchmarkCompile500(b *testing.B) {
	src := bigSchema(500)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	before := cpuTime()
	n := 0
	for b.Loop() {
		if _, err := Compile("big.zed", src); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-before)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

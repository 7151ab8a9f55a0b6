package validation

// The conformance suite: every validation file of the public corpus
// (internal/testdata/conformance/spicedb, see its README) runs through RunFiles, the
// loader tests are refused or accepted as upstream expects, the golden results of
// the lookups and bulk checks are reproduced, and for every small file Check,
// CheckBulk, LookupResources and LookupSubjects agree on every combination the file
// mentions. A file that cannot pass is listed with its reason in knownRefusals; none
// is skipped silently.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// knownRefusals are corpus files that must not load, with the text the refusal must
// contain and why.
var knownRefusals = map[string]struct{ want, why string }{
	"zed-schemaexamples/google-iam.yaml": {
		want: "relationship role:spanner_database_admin#spanner_databases_drop@user:* is repeated: it is also on line 211",
		why:  "the file repeats a relationship; the format refuses repeats (upstream's current loader refuses it too). TestConformanceGoogleIAMWithoutRepeat runs it with the repeat dropped.",
	},
}

// corpusRunFiles lists every corpus file RunFiles must handle: the top-level files,
// the schema examples, the misc fixtures and the steelthread fixtures.
func corpusRunFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"*.yaml", "zed-schemaexamples/*.yaml", "misc/*.yaml", "steelthread/testdata/*.yaml"} {
		m, err := filepath.Glob(filepath.Join(corpusDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 90 {
		t.Fatalf("found only %d corpus files; is %s complete?", len(out), corpusDir)
	}
	return out
}

func relToCorpus(path string) string {
	rel, err := filepath.Rel(corpusDir, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(rel)
}

// TestConformanceCorpus runs every corpus file through RunFiles and prints, per file,
// the assertions and expected relations passed.
func TestConformanceCorpus(t *testing.T) {
	files := corpusRunFiles(t)
	var jsonOut bytes.Buffer
	_, runErr := RunFiles(context.Background(), files, &jsonOut, Options{JSON: true})
	var rep Report
	if err := json.Unmarshal(jsonOut.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	var text bytes.Buffer
	if err := rep.Write(&text, Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("conformance corpus:\n%s", text.String())
	if len(rep.DataSets) != len(files) {
		t.Fatalf("%d data sets reported for %d files", len(rep.DataSets), len(files))
	}
	refused := 0
	for _, d := range rep.DataSets {
		name := relToCorpus(d.Name)
		if known, ok := knownRefusals[name]; ok {
			refused++
			if len(d.LoadErrors) == 0 || !strings.Contains(d.LoadErrors.Error(), known.want) {
				t.Errorf("%s must be refused with %q (%s); got %v", name, known.want, known.why, d.LoadErrors)
			}
			continue
		}
		if !d.Passed {
			t.Errorf("%s failed: %d/%d assertions, %d/%d expected relations, load errors %v",
				name, d.Assertions.Passed, d.Assertions.Total, d.Expected.Passed, d.Expected.Total, d.LoadErrors)
		}
	}
	if refused != len(knownRefusals) {
		t.Errorf("%d known refusals seen, %d listed", refused, len(knownRefusals))
	}
	if runErr == nil && len(knownRefusals) > 0 {
		t.Errorf("RunFiles returned no load error although %d files must be refused", len(knownRefusals))
	}
	// The corpus README counts 226+159+26 assertions in the top-level files and 6+2+1
	// in the schema examples that load; google-iam's 2 expected relations are refused.
	if got := rep.Totals["assertions"]; got.Total != 420 {
		t.Errorf("ran %d assertions, the corpus has 420 in the files that load", got.Total)
	}
	if got := rep.Totals["expected_relations"]; got.Total != 21 {
		t.Errorf("ran %d expected relations, the corpus has 21 in the files that load", got.Total)
	}
}

// TestConformanceGoogleIAMWithoutRepeat runs the one refused schema example with its
// repeated relationship dropped, so its assertions and expected relations still count.
func TestConformanceGoogleIAMWithoutRepeat(t *testing.T) {
	path := filepath.Join(corpusDir, "zed-schemaexamples", "google-iam.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	const repeated = "role:spanner_database_admin#spanner_databases_drop@user:*"
	if strings.TrimSpace(lines[221]) != repeated {
		t.Fatalf("line 222 of %s is %q, not the repeat this test drops", path, lines[221])
	}
	lines[221] = "" // keep the line numbers of everything else
	dir := t.TempDir()
	fixed := filepath.Join(dir, "google-iam.yaml")
	if err := os.WriteFile(fixed, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	passed, err := RunFiles(context.Background(), []string{fixed}, &out, Options{Verbose: true})
	t.Logf("%s", out.String())
	if err != nil || !passed {
		t.Fatalf("google-iam without the repeat: passed=%v err=%v", passed, err)
	}
}

// TestConformanceSelf runs self.yaml.skip, which upstream keeps out of its generic
// harness. It needs `use self`, which Pemba's schema language leaves out on purpose
// (docs/schema.md lists it among the divergences), so the file must be refused with
// that reason rather than half-run.
func TestConformanceSelf(t *testing.T) {
	var out bytes.Buffer
	passed, err := RunFiles(context.Background(), []string{filepath.Join(corpusDir, "self.yaml.skip")}, &out, Options{})
	t.Logf("%s", out.String())
	if passed || err == nil || !strings.Contains(err.Error(), "`use self` is not supported by Pemba") {
		t.Fatalf("self.yaml.skip must be refused for `use self`: passed=%v err=%v", passed, err)
	}
}

// TestConformanceLoader runs the corpus's loader tests: which files must load, alone
// or together, and which must be refused, with the reason.
func TestConformanceLoader(t *testing.T) {
	cases := []struct {
		files   []string
		wantErr string // "" when the data set must load
	}{
		{[]string{"basic_caveats.yaml"}, ""},
		{[]string{"caveat_order.yaml"}, ""},
		{[]string{"initial_schema_and_rels.yaml"}, ""},
		{[]string{"loader_no_comment.yaml"}, ""},
		{[]string{"loader_with_comment.yaml"}, ""},
		{[]string{"requires_chunking.yaml"}, ""},
		{[]string{"initial_schema_and_rels.yaml", "just_rels.yaml"}, ""},
		{[]string{"just_rels.yaml", "initial_schema_and_rels.yaml"}, ""},
		{[]string{"just_rels.yaml"}, "just_rels.yaml:3: relationship example/project:pied_piper#owner@example/user:fred: definition `example/project` not found"},
		{[]string{"invalid_caveat.yaml"}, "invalid_caveat.yaml: schema line 3, column 32: caveat `some_caveat` not found"},
		{[]string{"invalid_caveated_rel.yaml"}, "invalid_caveated_rel.yaml:13: relationship resource:first#reader@user:tom[some_caveat]: caveat `some_caveat` is not allowed"},
		{[]string{"invalid_caveated_rel_syntax.yaml"}, "invalid_caveated_rel_syntax.yaml:15: invalid relationship"},
		{[]string{"repeated_relationship.yaml"}, "repeated_relationship.yaml:15: relationship resource:first#reader@user:tom is repeated: it is also on line 13"},
		{[]string{"schema_and_schemafile.yaml"}, "both `schema` and `schemaFile` are given"},
		{[]string{"legacy.yaml"}, "legacy.yaml:2: `validation_tuples` is a key of the old file format"},
		{[]string{"loader_using_non-local_schemafile.yaml"}, "leaves the validation file's directory"},
		{[]string{"loader_using_missing_schemafile.yaml"}, "schemaFile \"./non_existant_schemafile.zed\" cannot be read"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.files, "+"), func(t *testing.T) {
			var paths []string
			for _, name := range c.files {
				paths = append(paths, filepath.Join(loaderDir, name))
			}
			checkLoads(t, paths, c.wantErr)
		})
	}
}

// TestConformanceLoaderSchemaFiles runs the two loader tests whose .zed files were
// not copied into the corpus, with schema files written here: a valid one the
// relationships fit, and one that does not compile.
func TestConformanceLoaderSchemaFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"loader_using_schemafile.yaml", "loader_using_invalid_schemafile.yaml"} {
		data, err := os.ReadFile(filepath.Join(loaderDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	valid := "definition example/user {}\n\ndefinition example/project {\n  relation reader: example/user\n  relation writer: example/user\n  relation owner: example/user\n  permission read = reader + write\n  permission write = writer + admin\n  permission admin = owner\n}\n"
	invalid := "definition example/user {}\n\ndefinition example/project {\n  relation reader: example/usr\n}\n"
	for name, text := range map[string]string{"separate_schemafile.zed": valid, "invalid_schemafile.zed": invalid} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	checkLoads(t, []string{filepath.Join(dir, "loader_using_schemafile.yaml")}, "")
	checkLoads(t, []string{filepath.Join(dir, "loader_using_invalid_schemafile.yaml")}, "invalid_schemafile.zed:4:20: schema: ")
}

func checkLoads(t *testing.T, paths []string, wantErr string) {
	t.Helper()
	var files []*File
	var err error
	for _, p := range paths {
		var f *File
		if f, err = Load(p); err != nil {
			break
		}
		files = append(files, f)
	}
	if err == nil {
		_, err = Build(files...)
	}
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("must load, got: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("must be refused with %q, but it loaded", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("error = %q\nwant it to contain %q", err, wantErr)
	}
}

// TestConformanceCrossAPI checks, for every top-level file and schema example, that
// Check, CheckBulk, LookupResources and LookupSubjects agree on every resource,
// permission and subject the file mentions, and that Check agrees with the reference
// evaluator; and that LookupResources agrees with every assertion, with and without
// its caveat context.
func TestConformanceCrossAPI(t *testing.T) {
	ctx := context.Background()
	totalChecks, files := 0, 0
	for _, path := range corpusAssertionFiles(t) {
		if _, refused := knownRefusals[relToCorpus(path)]; refused {
			continue
		}
		f, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := Build(f)
		if err != nil {
			t.Fatal(err)
		}
		store, rev, err := ds.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		eng := engine.New(store, engine.Config{})
		ref, err := newRefEval(ds.Schema, ds.Relationships, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		n, problems, err := crossCheck(ctx, consistencyInput{eng: eng, rev: rev, sch: ds.Schema, rels: ds.Relationships, ref: ref})
		if err != nil {
			t.Errorf("%s: %v", relToCorpus(path), err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", relToCorpus(path), p)
		}
		for _, a := range f.Assertions {
			for _, withContext := range []bool{true, false} {
				if !withContext && a.Context == nil {
					continue
				}
				req := engine.LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: rev, ResourceType: a.Resource.Type, Permission: a.Permission, Subject: a.Subject}
				creq := engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: a.Resource, Permission: a.Permission, Subject: a.Subject}
				if withContext {
					req.Context, creq.Context = a.Context, a.Context
				}
				want, err := eng.Check(ctx, creq)
				if err != nil {
					t.Fatal(err)
				}
				var got *engine.ResourceResult
				for res, err := range eng.LookupResources(ctx, req) {
					if err != nil {
						t.Fatalf("%s:%d: LookupResources: %v", a.File, a.Line, err)
					}
					if res.ResourceID == a.Resource.ID {
						got = &res
					}
				}
				n++
				switch {
				case want.Permissionship == engine.NoPermission && got != nil:
					t.Errorf("%s:%d: %s (context %v): Check denies, LookupResources returns %s (%s)", a.File, a.Line, a.Text, withContext, a.Resource.ID, got.Permissionship)
				case want.Permissionship != engine.NoPermission && (got == nil || got.Permissionship != want.Permissionship):
					t.Errorf("%s:%d: %s (context %v): Check %s, LookupResources %v", a.File, a.Line, a.Text, withContext, want.Permissionship, got)
				}
			}
		}
		store.Close()
		totalChecks += n
		files++
	}
	t.Logf("cross-API consistency: %d files, %d questions asked", files, totalChecks)
}

// --- steelthread golden results ---

const steelDir = corpusDir + "/steelthread"

func readGolden(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(steelDir, "steelresults", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// steelEngine loads one steelthread fixture and returns an engine over it.
func steelEngine(t *testing.T, fixture string) (*engine.Engine, datastore.Revision) {
	t.Helper()
	f, err := Load(filepath.Join(steelDir, "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Build(f)
	if err != nil {
		t.Fatal(err)
	}
	store, rev, err := ds.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return engine.New(store, engine.Config{}), rev
}

// TestConformanceSteelthreadLookupResources reproduces the golden LookupResources
// results: the uncursored answer as a set, and the cursored answers page by page
// with the page size as the limit. Pemba's pages are compared by content, not by
// composition: the golden pages reflect the upstream server's dispatch order (they
// even repeat results across pages and return short pages), while Pemba returns each
// resource once, in id order, every page but the last full.
func TestConformanceSteelthreadLookupResources(t *testing.T) {
	cases := []struct {
		fixture, permission, golden string
		pageSize                    int
	}{
		{"document-with-many-resources.yaml", "view", "basic-lookup-resources-uncursored-lookup-resources-for-fred-results.yaml", 0},
		{"document-with-many-resources.yaml", "indirect_view", "basic-lookup-resources-uncursored-lookup-resources-for-fred-results.yaml", 0},
		{"document-with-many-resources.yaml", "view", "basic-lookup-resources-cursored-lookup-resources-for-fred-page-size-1-results.yaml", 1},
		{"document-with-many-resources.yaml", "view", "basic-lookup-resources-cursored-lookup-resources-for-fred-page-size-5-results.yaml", 5},
		{"document-with-many-resources.yaml", "view", "basic-lookup-resources-cursored-lookup-resources-for-fred-page-size-16-results.yaml", 16},
		{"document-with-many-resources.yaml", "view", "basic-lookup-resources-cursored-lookup-resources-for-fred-page-size-53-results.yaml", 53},
		{"document-with-many-resources.yaml", "view", "basic-lookup-resources-cursored-lookup-resources-for-fred-page-size-54-results.yaml", 54},
		{"document-with-many-resources.yaml", "view", "basic-lookup-resources-cursored-lookup-resources-for-fred-page-size-100-results.yaml", 100},
		{"document-with-many-resources.yaml", "indirect_view", "indirect-lookup-resources-cursored-lookup-resources-for-fred-page-size-5-results.yaml", 5},
		{"document-with-many-resources.yaml", "indirect_view", "indirect-lookup-resources-cursored-lookup-resources-for-fred-page-size-16-results.yaml", 16},
		{"document-with-many-resources.yaml", "indirect_view", "indirect-lookup-resources-cursored-lookup-resources-for-fred-page-size-53-results.yaml", 53},
		{"document-with-many-resources.yaml", "indirect_view", "indirect-lookup-resources-cursored-lookup-resources-for-fred-page-size-54-results.yaml", 54},
		{"document-with-many-resources.yaml", "indirect_view", "indirect-lookup-resources-cursored-lookup-resources-for-fred-page-size-100-results.yaml", 100},
		{"document-with-many-resources.yaml", "vsb", "indirect-lookup-resources-indirect-without-other-permission-page-size-5-results.yaml", 5},
		{"document-with-many-resources.yaml", "vsb", "indirect-lookup-resources-indirect-without-other-permission-page-size-16-results.yaml", 16},
		{"document-with-many-resources.yaml", "vsb", "basic-lookup-resources-indirect-without-other-permission-page-size-5-results.yaml", 5},
		{"document-with-many-resources.yaml", "vsb", "basic-lookup-resources-indirect-without-other-permission-page-size-16-results.yaml", 16},
		{"document-with-many-resources.yaml", "vsb_plus_nil", "basic-lookup-resources-vsb-plus-nil-page-size-16-results.yaml", 16},
		{"document-with-many-resources.yaml", "edit", "basic-lookup-resources-edit-page-size-16-results.yaml", 16},
		{"document-with-intersect-resources.yaml", "view", "lookup-resources-with-intersection-uncursored-indirect-lookup-resources-for-user-fred-results.yaml", 0},
		{"document-with-intersect-resources.yaml", "indirect_view", "lookup-resources-with-intersection-uncursored-indirect-lookup-resources-for-user-fred-results.yaml", 0},
		{"document-with-intersect-resources.yaml", "view", "lookup-resources-with-intersection-cursored-lookup-resources-for-user-fred-results.yaml", 18},
		{"document-with-intersect-resources.yaml", "indirect_view", "lookup-resources-with-intersection-cursored-lookup-resources-for-user-fred-results.yaml", 18},
	}
	engines := map[string]*engine.Engine{}
	revs := map[string]datastore.Revision{}
	for _, c := range cases {
		if _, ok := engines[c.fixture]; !ok {
			engines[c.fixture], revs[c.fixture] = steelEngine(t, c.fixture)
		}
	}
	for _, c := range cases {
		t.Run(c.permission+"/"+c.golden, func(t *testing.T) {
			eng, rev := engines[c.fixture], revs[c.fixture]
			var want []string
			if c.pageSize == 0 {
				readGolden(t, c.golden, &want)
			} else {
				var pages [][]string
				readGolden(t, c.golden, &pages)
				for _, p := range pages {
					want = append(want, p...)
				}
			}
			slices.Sort(want)
			want = slices.Compact(want)
			req := engine.LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: rev, ResourceType: "document", Permission: c.permission,
				Subject: tuple.SubjectRef{Type: "user", ID: "fred"}, Limit: c.pageSize}
			var got []string
			pages := 0
			for {
				var page []string
				last := ""
				for res, err := range eng.LookupResources(context.Background(), req) {
					if err != nil {
						t.Fatalf("page %d: %v", pages+1, err)
					}
					if res.Permissionship != engine.HasPermission {
						t.Errorf("%s is %s, want allowed", res.ResourceID, res.Permissionship)
					}
					page = append(page, res.ResourceID)
					last = res.Cursor
				}
				pages++
				got = append(got, page...)
				if c.pageSize == 0 || len(page) < c.pageSize {
					break
				}
				if len(page) > c.pageSize {
					t.Fatalf("page %d has %d results, more than the limit %d", pages, len(page), c.pageSize)
				}
				req.Cursor = last
				if pages > len(want)+2 {
					t.Fatalf("paging does not end after %d pages", pages)
				}
			}
			sorted := slices.Sorted(slices.Values(got))
			if len(slices.Compact(slices.Clone(sorted))) != len(got) {
				t.Errorf("a resource is returned twice across pages")
			}
			if !slices.Equal(sorted, want) {
				t.Errorf("got %d resources, golden %d\ngot  %v\nwant %v", len(got), len(want), sorted, want)
			}
		})
	}
}

// TestConformanceSteelthreadLookupSubjects reproduces the golden LookupSubjects
// results, wildcard exclusions included.
func TestConformanceSteelthreadLookupSubjects(t *testing.T) {
	cases := []struct{ fixture, resource, golden string }{
		{"basic-document.yaml", "somedoc", "basic-lookup-subjects-uncursored-lookup-subjects-for-somedoc-results.yaml"},
		{"basic-document.yaml", "publicdoc", "basic-lookup-subjects-uncursored-lookup-subjects-for-public-doc-results.yaml"},
		{"document-with-intersect.yaml", "somedoc", "lookup-subjects-intersection-uncursored-lookup-subjects-for-somedoc-results.yaml"},
		{"document-with-intersect-arrow.yaml", "somedoc", "lookup-subjects-intersection-arrow-uncursored-lookup-subjects-for-somedoc-results.yaml"},
	}
	for _, c := range cases {
		t.Run(c.fixture+"/"+c.resource, func(t *testing.T) {
			eng, rev := steelEngine(t, c.fixture)
			var want []string
			readGolden(t, c.golden, &want)
			slices.Sort(want)
			var got []string
			for res, err := range eng.LookupSubjects(context.Background(), engine.LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: rev,
				Resource: tuple.ObjectRef{Type: "document", ID: c.resource}, Permission: "view", SubjectType: "user"}) {
				if err != nil {
					t.Fatal(err)
				}
				if res.Permissionship != engine.HasPermission {
					t.Errorf("%s is %s, want allowed", res.SubjectID, res.Permissionship)
				}
				s := res.SubjectID
				if s == tuple.Wildcard && len(res.Excluded) > 0 {
					ex := slices.Sorted(slices.Values(res.Excluded))
					s = "* - [" + strings.Join(ex, ", ") + "]"
				}
				got = append(got, s)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("got %d subjects, golden %d\ngot  %v\nwant %v", len(got), len(want), got, want)
			}
		})
	}
}

// TestConformanceSteelthreadBulkChecks reproduces the golden CheckBulk results. A
// check written with "[name:{context}]" sends that context with the request.
func TestConformanceSteelthreadBulkChecks(t *testing.T) {
	cases := []struct{ fixture, golden string }{
		{"document-with-a-few-relationships.yaml", "basic-bulk-checks-basic-bulk-checks-results.yaml"},
		{"document-with-traits.yaml", "bulk-checks-with-traits-bulk-checks-results.yaml"},
	}
	names := map[string]engine.Permissionship{
		"PERMISSIONSHIP_NO_PERMISSION":          engine.NoPermission,
		"PERMISSIONSHIP_HAS_PERMISSION":         engine.HasPermission,
		"PERMISSIONSHIP_CONDITIONAL_PERMISSION": engine.Conditional,
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			eng, rev := steelEngine(t, c.fixture)
			var lines []string
			readGolden(t, c.golden, &lines)
			var reqs []engine.CheckRequest
			var want []engine.Permissionship
			for _, l := range lines {
				check, result, ok := strings.Cut(l, " -> ")
				p, known := names[result]
				if !ok || !known {
					t.Fatalf("golden line %q", l)
				}
				r, err := tuple.Parse(check)
				if err != nil {
					t.Fatal(err)
				}
				req := engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: r.Resource, Permission: r.Relation, Subject: r.Subject}
				if r.Caveat != nil {
					req.Context = r.Caveat.Context
				}
				reqs = append(reqs, req)
				want = append(want, p)
			}
			results := eng.CheckBulk(context.Background(), reqs)
			if len(results) != len(reqs) {
				t.Fatalf("%d results for %d checks", len(results), len(reqs))
			}
			for i, r := range results {
				if r.Err != nil || r.Result.Permissionship != want[i] {
					t.Errorf("%s: got %s (err %v), golden %s", lines[i], r.Result.Permissionship, r.Err, want[i])
				}
			}
		})
	}
}

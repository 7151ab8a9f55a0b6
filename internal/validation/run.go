package validation

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Options tune RunFiles and Run. The zero value runs each file on its own and prints
// text.
type Options struct {
	// JSON prints the report as one JSON document instead of text.
	JSON bool
	// Combine reads all the files as one data set (one schema, every relationship)
	// instead of one data set per file. Use it when one file holds the schema and
	// another only relationships.
	Combine bool
	// Verbose lists every assertion and expected relation in the text report, not
	// only the failures.
	Verbose bool
	// Engine configures the engine the files run on; the zero value means its
	// defaults.
	Engine engine.Config
}

// writeBatch is how many relationships one WriteRelationships call carries.
const writeBatch = 1000

// Load writes a data set into a fresh in-memory store and returns it with the
// revision holding the data. The schema and the relationships are written in one
// transaction, as creates, exactly as checked by Build.
func (d *DataSet) Load(ctx context.Context) (*memory.Store, datastore.Revision, error) {
	store := memory.New(datastore.Options{})
	rev, err := store.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{Operation: "validate"},
		func(ctx context.Context, tx datastore.ReadWriteTx) error {
			if err := tx.WriteSchema(ctx, d.SchemaText); err != nil {
				return err
			}
			for start := 0; start < len(d.Relationships); start += writeBatch {
				end := min(start+writeBatch, len(d.Relationships))
				updates := make([]datastore.Update, 0, end-start)
				for _, r := range d.Relationships[start:end] {
					updates = append(updates, datastore.Update{Op: datastore.OpCreate, Relationship: r})
				}
				if err := tx.WriteRelationships(ctx, updates); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		_ = store.Close()
		return nil, 0, fmt.Errorf("loading %s into the memory store: %w", d.Name(), err)
	}
	return store, rev, nil
}

// Run loads the data set into a fresh memory store and checks every assertion with
// the engine's Check and every expected relation with Expand, at the revision holding
// the data. The error is for a data set that could not be run at all; failed
// assertions are in the report.
func Run(ctx context.Context, d *DataSet, opts Options) (*DataSetReport, error) {
	store, rev, err := d.Load(ctx)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	eng := engine.New(store, opts.Engine)
	// Failures are explained by an engine without a result cache, so the tree shows
	// the whole evaluation rather than a cached answer.
	noCache := opts.Engine
	noCache.CacheSize = -1
	explainer := engine.New(store, noCache)
	rep := newDataSetReport(d)
	for _, a := range d.Assertions() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res := runAssertion(ctx, eng, explainer, rev, a)
		rep.Assertions.Total++
		if res.Passed {
			rep.Assertions.Passed++
		}
		rep.Results = append(rep.Results, res)
	}
	for _, e := range d.Expected() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res := runExpected(ctx, eng, rev, e)
		rep.Expected.Total++
		if res.Passed {
			rep.Expected.Passed++
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Passed = rep.Assertions.Passed == rep.Assertions.Total && rep.Expected.Passed == rep.Expected.Total
	return rep, nil
}

// answerFor is the answer each assertion kind expects.
var answerFor = map[AssertionKind]engine.Permissionship{
	AssertTrue:     engine.HasPermission,
	AssertFalse:    engine.NoPermission,
	AssertCaveated: engine.Conditional,
}

func runAssertion(ctx context.Context, eng, explainer *engine.Engine, rev datastore.Revision, a Assertion) Result {
	res := Result{File: a.File, Line: a.Line, Kind: a.Kind.String(), Text: a.Text}
	req := engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: a.Resource, Permission: a.Permission, Subject: a.Subject, Context: a.Context}
	got, err := eng.Check(ctx, req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Answer, res.MissingContext = got.Permissionship.String(), got.MissingContext
	if got.Permissionship == answerFor[a.Kind] {
		res.Passed = true
		return res
	}
	// Check again with the explanation only for a failure, so passing files stay fast.
	req.Explain = true
	if explained, err := explainer.Check(ctx, req); err == nil {
		res.Explain = explainNode(explained.Explanation)
	}
	return res
}

func runExpected(ctx context.Context, eng *engine.Engine, rev datastore.Revision, e ExpectedRelation) Result {
	res := Result{File: e.File, Line: e.Line, Kind: "validation", Text: e.Name()}
	expand := func(ctx context.Context, onr ObjectRelation) (*engine.ExpandNode, error) {
		return eng.Expand(ctx, engine.ExpandRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: onr.Object, Permission: onr.Relation})
	}
	found, err := reachableSubjects(ctx, expand, ObjectRelation{Object: e.Resource, Relation: e.Permission})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Problems = compareExpected(e, found)
	res.Passed = len(res.Problems) == 0
	return res
}

// RunFiles loads the validation files at paths, runs them, and writes the report to
// out: text, or JSON with Options.JSON. Each file is its own data set unless
// Options.Combine reads them all as one. passed is true only when every file loaded
// and every assertion and expected relation passed. err is non-nil when a file could
// not be loaded (an ErrorList naming file and line) or run; the other files still
// run and are reported.
func RunFiles(ctx context.Context, paths []string, out io.Writer, opts Options) (passed bool, err error) {
	if len(paths) == 0 {
		return false, errors.New("no validation files given")
	}
	report := &Report{}
	var loadErrs ErrorList
	fail := func(name string, files []string, err error) {
		var list ErrorList
		if !errors.As(err, &list) {
			list = ErrorList{{File: name, Msg: err.Error()}}
		}
		loadErrs = append(loadErrs, list...)
		report.DataSets = append(report.DataSets, &DataSetReport{Name: name, Files: files, LoadErrors: list})
	}
	var groups [][]*File
	var loaded []*File
	for _, p := range paths {
		f, err := Load(p)
		if err != nil {
			fail(p, []string{p}, err)
			continue
		}
		loaded = append(loaded, f)
		if !opts.Combine {
			groups = append(groups, []*File{f})
		}
	}
	if opts.Combine && len(loaded) > 0 && len(loaded) == len(paths) {
		groups = append(groups, loaded)
	}
	for _, g := range groups {
		ds, err := Build(g...)
		if err != nil {
			names := make([]string, len(g))
			for i, f := range g {
				names[i] = f.Path
			}
			fail((&DataSet{Files: g}).Name(), names, err)
			continue
		}
		rep, err := Run(ctx, ds, opts)
		if err != nil {
			fail(ds.Name(), fileNames(ds), err)
			continue
		}
		report.DataSets = append(report.DataSets, rep)
	}
	report.summarise()
	if werr := report.Write(out, opts); werr != nil {
		return false, werr
	}
	if len(loadErrs) > 0 {
		return false, loadErrs
	}
	return report.Passed, nil
}

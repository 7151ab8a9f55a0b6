package dataset

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
)

// FlagValues are the command-line choices of a dataset, shared by the dataset and
// load-generator commands so that both name the same data the same way.
type FlagValues struct {
	size       int64
	seed       uint64
	paramsFile string
	fanOut     int
	depth      int
	width      int
	chainDepth int
	groupDepth int
	users      int
	docs       int
	set        map[string]bool
	fs         *flag.FlagSet
}

// RegisterFlags adds the dataset flags to fs.
func RegisterFlags(fs *flag.FlagSet) *FlagValues {
	d := DefaultParams()
	v := &FlagValues{fs: fs}
	fs.Int64Var(&v.size, "size", 100_000, "target number of relationships (1000 to 50000000); chooses the number of trees")
	fs.Uint64Var(&v.seed, "seed", 1, "dataset seed")
	fs.StringVar(&v.paramsFile, "params", "", "JSON file of dataset parameters (as printed by --print-params); replaces --size")
	fs.IntVar(&v.fanOut, "fan-out", d.FanOut, "child organisations per organisation")
	fs.IntVar(&v.depth, "depth", d.Depth, "levels below each tree's root")
	fs.IntVar(&v.width, "width", d.Width, "most organisations on one level of a tree")
	fs.IntVar(&v.chainDepth, "chain-depth", d.ChainDepth, "levels below each chain's root")
	fs.IntVar(&v.groupDepth, "group-depth", d.GroupDepth, "levels of nested groups below a top group")
	fs.IntVar(&v.users, "users-per-org", d.UsersPerOrg, "mean users per organisation")
	fs.IntVar(&v.docs, "docs-per-project", d.DocsPerProject, "mean documents per project")
	return v
}

// Resolve returns the parameters the flags select.
func (v *FlagValues) Resolve() (Params, error) {
	set := map[string]bool{}
	v.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v.paramsFile != "" {
		for _, n := range []string{"size", "fan-out", "depth", "width", "chain-depth", "group-depth", "users-per-org", "docs-per-project"} {
			if set[n] {
				return Params{}, fmt.Errorf("--%s cannot be combined with --params (the file fixes every parameter)", n)
			}
		}
		b, err := os.ReadFile(v.paramsFile)
		if err != nil {
			return Params{}, err
		}
		p := DefaultParams()
		if err := json.Unmarshal(b, &p); err != nil {
			return Params{}, fmt.Errorf("--params %s: %w", v.paramsFile, err)
		}
		if set["seed"] {
			p.Seed = v.seed
		}
		return p, p.Validate()
	}
	base := DefaultParams()
	base.Seed = v.seed
	base.FanOut, base.Depth, base.Width = v.fanOut, v.depth, v.width
	base.ChainDepth, base.GroupDepth = v.chainDepth, v.groupDepth
	base.UsersPerOrg, base.DocsPerProject = v.users, v.docs
	if err := func() error { b := base; b.Trees, b.Chains = 1, 1; return b.Validate() }(); err != nil {
		return Params{}, err
	}
	return ForSize(base, v.size)
}

package dataset

import (
	"errors"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Version names the generator's formulas. Datasets are reproducible for one Version:
// a change to any formula or tag bumps it.
const Version = 1

// Fixed instants used for expiring relationships, far from any time a benchmark runs
// so that the oracle's answers do not depend on the clock.
var (
	// ValidUntil is the expiry of grants that are still in force.
	ValidUntil = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	// ExpiredAt is the expiry of grants that have already lapsed.
	ExpiredAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Params shape a dataset. Counts are exact or means (per-object counts vary around the
// mean by hash); rates are probabilities in [0, 1].
type Params struct {
	// Seed selects one dataset among all with the same shape.
	Seed uint64 `json:"seed"`

	// Trees is the number of customer organisation trees.
	Trees int `json:"trees"`
	// FanOut is the number of child organisations of each organisation that has any.
	FanOut int `json:"fan_out"`
	// Depth is the number of levels below each tree's root (the root is level 0).
	Depth int `json:"depth"`
	// Width caps the number of organisations on one level of a tree; the organisations
	// of a capped level hang under the first ones of the level above.
	Width int `json:"width"`
	// Chains is the number of extra trees that are single chains of organisations.
	Chains int `json:"chains"`
	// ChainDepth is the number of levels below a chain's root (at most 16 is the
	// intended range; the schema's depth limit bounds it).
	ChainDepth int `json:"chain_depth"`

	// Brands is the number of brand portals; tree t signed up through brand t mod Brands.
	Brands int `json:"brands"`
	// Staff is the number of platform operators; operator j runs brand j mod Brands.
	Staff int `json:"staff"`

	// UsersPerOrg is the mean number of users whose home is one organisation (1 to
	// 2*UsersPerOrg-1).
	UsersPerOrg int `json:"users_per_org"`
	// ProjectsPerOrg is the mean number of projects one organisation owns (0 to
	// 2*ProjectsPerOrg).
	ProjectsPerOrg int `json:"projects_per_org"`
	// DocsPerProject is the mean number of documents in one project (1 to
	// 2*DocsPerProject-1).
	DocsPerProject int `json:"docs_per_project"`

	// OrgsPerGroupTree is how many organisations of a tree share one group tree.
	OrgsPerGroupTree int `json:"orgs_per_group_tree"`
	// GroupFanOut is the number of nested groups directly inside a group.
	GroupFanOut int `json:"group_fan_out"`
	// GroupDepth is how many levels of nested groups sit below a top-level group.
	GroupDepth int `json:"group_depth"`

	// AdminRate is the chance that a user is an admin of its home organisation; the
	// first user of an organisation is one at twice this rate.
	AdminRate float64 `json:"admin_rate"`
	// ManagerRate is the chance of each of the billing_manager and app_manager roles.
	ManagerRate float64 `json:"manager_rate"`
	// ExpiringRate is the chance that an admin grant carries an expiry (members: a
	// quarter of it); ExpiredRate is the share of expiring grants already lapsed.
	ExpiringRate float64 `json:"expiring_rate"`
	ExpiredRate  float64 `json:"expired_rate"`
	// SecondMembershipRate is the chance that a user is also a member of an ancestor
	// of its home organisation.
	SecondMembershipRate float64 `json:"second_membership_rate"`
	// GroupMembershipRate is the chance that a user is a member of one group.
	GroupMembershipRate float64 `json:"group_membership_rate"`
	// SuspendedRate is the chance that a user is suspended at its home organisation or
	// one above it.
	SuspendedRate float64 `json:"suspended_rate"`
	// UnregisteredRate is the chance that a user never registered with its brand.
	UnregisteredRate float64 `json:"unregistered_rate"`
	// PartnerBrandRate is the chance that a user also registered with the brand of the
	// tree its organisations partner with.
	PartnerBrandRate float64 `json:"partner_brand_rate"`
	// DirectGrantRate is the chance that a user holds one direct project or document
	// grant somewhere in its tree.
	DirectGrantRate float64 `json:"direct_grant_rate"`
	// GroupGrantRate is the chance that a group holds one organisation role or project
	// or document grant.
	GroupGrantRate float64 `json:"group_grant_rate"`
	// BlockedRate is the chance that a user is blocked from a project of its home.
	BlockedRate float64 `json:"blocked_rate"`
	// PartnerRate is the chance that an organisation is a partner of a project of the
	// previous tree; CaveatRate is the share of those under within_network.
	PartnerRate float64 `json:"partner_rate"`
	CaveatRate  float64 `json:"caveat_rate"`
}

// DefaultParams is the shape the benchmarks use: trees of depth 8 (fan-out 3, at most
// 81 organisations a level, 445 organisations), chains of depth 16, and contents that
// let a root admin see about ten thousand documents. Trees and Chains are set by
// ForSize.
func DefaultParams() Params {
	return Params{
		Seed:                 1,
		Trees:                4,
		FanOut:               3,
		Depth:                8,
		Width:                81,
		Chains:               1,
		ChainDepth:           16,
		Brands:               4,
		Staff:                8,
		UsersPerOrg:          4,
		ProjectsPerOrg:       2,
		DocsPerProject:       11,
		OrgsPerGroupTree:     16,
		GroupFanOut:          2,
		GroupDepth:           3,
		AdminRate:            0.08,
		ManagerRate:          0.03,
		ExpiringRate:         0.3,
		ExpiredRate:          0.3,
		SecondMembershipRate: 0.15,
		GroupMembershipRate:  0.3,
		SuspendedRate:        0.02,
		UnregisteredRate:     0.03,
		PartnerBrandRate:     0.7,
		DirectGrantRate:      0.2,
		GroupGrantRate:       0.6,
		BlockedRate:          0.02,
		PartnerRate:          0.1,
		CaveatRate:           0.5,
	}
}

// Validate reports the first parameter out of range.
func (p Params) Validate() error {
	type bound struct {
		name     string
		v, lo, h int
	}
	for _, b := range []bound{
		{"trees", p.Trees, 0, 1 << 24},
		{"chains", p.Chains, 0, 1 << 24},
		{"fan_out", p.FanOut, 1, 64},
		{"depth", p.Depth, 0, 32},
		{"width", p.Width, 1, 1 << 20},
		{"chain_depth", p.ChainDepth, 0, 32},
		{"brands", p.Brands, 1, 1 << 16},
		{"staff", p.Staff, 0, 1 << 16},
		{"users_per_org", p.UsersPerOrg, 1, 1 << 12},
		{"projects_per_org", p.ProjectsPerOrg, 0, 1 << 12},
		{"docs_per_project", p.DocsPerProject, 1, 1 << 12},
		{"orgs_per_group_tree", p.OrgsPerGroupTree, 1, 1 << 20},
		{"group_fan_out", p.GroupFanOut, 1, 16},
		{"group_depth", p.GroupDepth, 0, 12},
	} {
		if b.v < b.lo || b.v > b.h {
			return fmt.Errorf("dataset parameter %s = %d is out of range [%d, %d]", b.name, b.v, b.lo, b.h)
		}
	}
	if p.Trees+p.Chains == 0 {
		return errors.New("dataset parameters trees and chains are both 0: a dataset needs at least one tree")
	}
	for name, r := range map[string]float64{
		"admin_rate": p.AdminRate, "manager_rate": p.ManagerRate, "expiring_rate": p.ExpiringRate,
		"expired_rate": p.ExpiredRate, "second_membership_rate": p.SecondMembershipRate,
		"group_membership_rate": p.GroupMembershipRate, "suspended_rate": p.SuspendedRate,
		"unregistered_rate": p.UnregisteredRate, "partner_brand_rate": p.PartnerBrandRate,
		"direct_grant_rate": p.DirectGrantRate, "group_grant_rate": p.GroupGrantRate,
		"blocked_rate": p.BlockedRate, "partner_rate": p.PartnerRate, "caveat_rate": p.CaveatRate,
	} {
		if !(r >= 0 && r <= 1) {
			return fmt.Errorf("dataset parameter %s = %v is not a probability in [0, 1]", name, r)
		}
	}
	if 2*p.AdminRate+2*p.ManagerRate > 1 {
		return fmt.Errorf("dataset parameters admin_rate %v and manager_rate %v leave no room for members (2*admin + 2*manager must be at most 1)", p.AdminRate, p.ManagerRate)
	}
	if p.GroupTreeSize() > 1<<16 {
		return fmt.Errorf("dataset group trees of fan-out %d and depth %d have more than 65536 groups", p.GroupFanOut, p.GroupDepth)
	}
	return nil
}

// GroupTreeSize is the number of groups in one group tree.
func (p Params) GroupTreeSize() int {
	n, level := 0, 1
	for range p.GroupDepth + 1 {
		n += level
		level *= p.GroupFanOut
	}
	return n
}

// MaxRelationships is the largest target ForSize accepts.
const MaxRelationships = 50_000_000

// ForSize returns base with Trees and Chains (and, for small targets, Width) chosen so
// that the dataset has about target relationships. One chain is added per eight trees.
func ForSize(base Params, target int64) (Params, error) {
	if target < 1000 || target > MaxRelationships {
		return Params{}, fmt.Errorf("dataset size %d is out of range [1000, %d]", target, MaxRelationships)
	}
	p := base
	p.Trees, p.Chains = 1, 1
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	// Small targets get narrower trees so that the forest still has several trees
	// (partner grants cross from one tree to the next).
	for p.Width > 1 && estimateTree(p, 0) > target/4 {
		p.Width /= p.FanOut + 1
		if p.Width < 1 {
			p.Width = 1
		}
	}
	tree := estimateTree(p, 0)
	chain := estimateTree(p, 1)
	// n trees and n/8 (at least one) chains.
	n := int64(1)
	for {
		next := n + 1
		if next*tree+max(1, next/8)*chain > target {
			break
		}
		n = next
	}
	if down, up := n*tree+max(1, n/8)*chain, (n+1)*tree+max(1, (n+1)/8)*chain; up-target < target-down {
		n++
	}
	p.Trees = int(n)
	p.Chains = int(max(1, n/8))
	return p, nil
}

// estimateTree counts the relationships of one tree of a one-tree, one-chain dataset
// (index 0 is the tree, 1 the chain). Tree contents vary little with the tree index.
func estimateTree(p Params, t int) int64 {
	p.Trees, p.Chains = 1, 1
	m := MustModel(p)
	var n int64
	m.emitTree(t, func(tuple.Relationship) bool { n++; return true })
	return n
}

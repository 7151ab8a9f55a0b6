package schema

import (
	"slices"
	"strconv"
	"strings"
)

// ApprovalPermissionPrefix starts the name of every permission the compiler makes for
// a party of an approval rule: "approve:project#viewer/1" is the first party of the
// rule for project#viewer. Like a grant permission, it is not a valid identifier.
const ApprovalPermissionPrefix = "approve:"

// pendingApproval is an approval rule, compiled once every definition and grant rule
// is resolved: its parties may be written against another definition, and its bound
// is compared with the grant rule's.
type pendingApproval struct {
	d   *Definition
	ast *astApproval
}

// approval compiles one approval rule and synthesises a permission per party.
func (c *compiler) approval(d *Definition, a *astApproval) {
	rule := &ApprovalRule{MaxDuration: a.MaxDuration, Text: oneLine(a.Text), Pos: c.pos(a.Pos)}
	listed := map[string]bool{}
	for _, id := range a.Relations {
		r, ok := d.Relations[id.Name]
		switch {
		case !ok:
			c.diag.add(id.Pos, "approval rule names relation `%s`, which is not found on definition `%s`%s", id.Name, d.Name, c.suggest(id.Name, relationNames(d)))
			continue
		case r.Kind == KindPermission:
			c.diag.add(id.Pos, "approval rule names `%s`, which is a permission: requests are for relations, the things that can be written", id.Name)
			continue
		case listed[id.Name]:
			c.diag.add(id.Pos, "approval rule names relation `%s` twice", id.Name)
			continue
		case r.Approval != nil:
			c.diag.add(id.Pos, "relation `%s` already has an approval rule (line %d); a relation may have at most one", id.Name, r.Approval.Pos.Line)
			continue
		}
		listed[id.Name] = true
		rule.Relations = append(rule.Relations, id.Name)
	}
	what := "the approval rule for " + strings.Join(identNames(a.Relations), ", ")
	var requester *Definition
	if rq := a.Requester; rq != nil {
		rule.Requester = &RequesterBinding{Type: rq.Type.Name, Relation: rq.Relation.Name, Pos: c.pos(rq.Pos)}
		requester = c.requesterBinding(d, rule, rq)
	}
	ok := len(rule.Relations) > 0
	seen := map[string]int{}
	for i, ap := range a.Parties {
		party := Party{On: OnResource, Definition: d.Name, Pos: c.pos(ap.Pos)}
		on := d
		if ap.OnRequester {
			party.On = OnRequester
			switch {
			case a.Requester == nil:
				c.diag.add(ap.OnPos, "a party `on requester` needs a `requester in TYPE#RELATION` clause naming the requester's organisation (for example `requester in organization#member`)")
				ok = false
				continue
			case requester == nil:
				ok = false
				continue // the binding is wrong, already reported
			}
			on, party.Definition = requester, requester.Name
		}
		party.Expr = c.expr(on, "party "+strconv.Itoa(i+1)+" of "+what, ap.Expr)
		key := party.Definition + " " + FormatExpr(party.Expr)
		if first, dup := seen[key]; dup {
			c.diag.add(ap.Pos, "party %d of the approval rule repeats party %d: each party must be a different requirement", i+1, first)
			ok = false
		}
		seen[key] = i + 1
		rule.Parties = append(rule.Parties, party)
	}
	if rule.Requester != nil && !slices.ContainsFunc(a.Parties, func(p *astParty) bool { return p.OnRequester }) {
		c.diag.add(a.Requester.Pos, "`requester in` names the requester's organisation, but no party is checked `on requester`: add one (for example `manage on requester`) or drop the clause")
		ok = false
	}
	c.approvalBound(d, rule, a)
	if !ok {
		return
	}
	for i := range rule.Parties {
		p := &rule.Parties[i]
		p.Permission = ApprovalPermissionPrefix + d.Name + "#" + strings.Join(rule.Relations, ",") + "/" + strconv.Itoa(i+1)
		c.s.Definitions[p.Definition].Relations[p.Permission] = &Relation{
			Name: p.Permission, Kind: KindPermission, Definition: p.Definition, Expr: p.Expr,
			Synthetic: true, Pos: p.Pos,
		}
	}
	for _, n := range rule.Relations {
		d.Relations[n].Approval = rule
	}
	d.Approvals = append(d.Approvals, rule)
}

// requesterBinding checks "requester in TYPE#RELATION" and returns TYPE's definition,
// or nil when the clause is wrong.
func (c *compiler) requesterBinding(d *Definition, rule *ApprovalRule, rq *astCondition) *Definition {
	text := "requester in " + rq.Type.Name + "#" + rq.Relation.Name
	target, ok := c.s.Definitions[rq.Type.Name]
	if !ok {
		c.diag.add(rq.Type.Pos, "definition `%s` not found (in `%s`)%s", rq.Type.Name, text, c.suggest(rq.Type.Name, c.definitionNames()))
		return nil
	}
	if _, ok := target.Relations[rq.Relation.Name]; !ok {
		c.diag.add(rq.Relation.Pos, "relation or permission `%s` not found on definition `%s` (in `%s`)%s", rq.Relation.Name, rq.Type.Name, text, c.suggest(rq.Relation.Name, target.Order))
		return nil
	}
	if !c.subjectsFit(d, rule.Relations, rq.Type.Name, rq.Relation.Name, rq.Pos, "`"+text+"`", "requested subject") {
		return nil
	}
	return target
}

// approvalBound checks `for at most`: the covered relations must allow an expiry, and
// the bound may not exceed the grant rule's `expiring within`.
func (c *compiler) approvalBound(d *Definition, rule *ApprovalRule, a *astApproval) {
	if rule.MaxDuration == 0 {
		return
	}
	for _, n := range rule.Relations {
		r := d.Relations[n]
		if !slices.ContainsFunc(r.AllowedSubjects, func(a AllowedSubject) bool { return a.Expiration }) {
			c.diag.add(a.DurationPos, "approval rule says `for at most %s`, but relation `%s` allows no subject type `with expiration`, so an approved grant could never be written (add `%s with expiration` to it)",
				a.DurationText, n, firstType(r))
			continue
		}
		if g := r.Grant; g != nil && g.MaxLifetime > 0 && rule.MaxDuration > g.MaxLifetime {
			c.diag.add(a.DurationPos, "approval rule says `for at most %s`, longer than `expiring within %s` of the grant rule for `%s` (line %d): an approval cannot give more than a grant may",
				a.DurationText, FormatLifetime(g.MaxLifetime), n, g.Pos.Line)
		}
	}
}

package schema

import "time"

// MaxApprovalParties bounds the parties of one approval rule.
const MaxApprovalParties = 4

// approval parses "approve REL[, REL...] by PARTY [and PARTY...]
// [requester in TYPE#RELATION] [for at most DURATION]", where PARTY is a permission
// expression, optionally followed by "on requester". The two clauses come in either
// order.
func (p *parser) approval() *astApproval {
	a := &astApproval{Pos: p.tok.Pos, Comments: p.tok.Comments}
	start := p.tok.Off
	p.advance()
	for {
		a.Relations = append(a.Relations, p.expectIdent("a relation name after `approve`"))
		if p.tok.Kind != tokComma {
			break
		}
		p.advance()
	}
	if !p.isWord("by") {
		p.failHere("expected `by` and the parties who approve after the relations of an approval rule, found %s", p.tok.describe())
	}
	p.advance()
	for {
		party := &astParty{Pos: p.tok.Pos}
		p.terms = 0
		party.Expr = p.expr()
		if p.isWord("on") {
			party.OnPos = p.tok.Pos
			p.advance()
			p.keyword("requester", "after `on` (a party is checked on the resource, or `on requester`, the requester's organisation)")
			party.OnRequester = true
		}
		a.Parties = append(a.Parties, party)
		if len(a.Parties) > MaxApprovalParties {
			p.fail(party.Pos, "an approval rule has at most %d parties", MaxApprovalParties)
		}
		if !p.isWord("and") {
			break
		}
		and := p.tok.Pos
		p.advance()
		if p.atMemberStart() || p.tok.Kind == tokRBrace || p.tok.Kind == tokEOF {
			p.fail(and, "`and` needs another party after it (a permission expression, optionally `on requester`)")
		}
	}
	p.approvalClauses(a)
	a.Text = p.src[start : p.prev.Off+len(p.prev.Text)]
	a.Last = p.prev.Pos
	return a
}

func (p *parser) approvalClauses(a *astApproval) {
	for {
		switch {
		case p.isWord("for"):
			if a.DurationText != "" {
				p.failHere("the approval rule says `for at most` twice")
			}
			p.advance()
			if p.isWord("atmost") {
				p.failHere("write `at most` as two words: `for at most 90d`")
			}
			p.keyword("at", "after `for` (for example `for at most 90d`)")
			p.keyword("most", "after `for at` (for example `for at most 90d`)")
			a.MaxDuration, a.DurationText, a.DurationPos = p.duration("`for at most`")
		case p.isWord("requester"):
			if a.Requester != nil {
				p.failHere("the approval rule says `requester in` twice")
			}
			c := &astCondition{Pos: p.tok.Pos}
			p.advance()
			p.keyword("in", "after `requester` (for example `requester in organization#member`)")
			c.Type = p.typePath("a definition name after `requester in`")
			p.expect(tokHash, "after `requester in %s` (write `%s#RELATION`)", c.Type.Name, c.Type.Name)
			c.Relation = p.expectIdent("a relation or permission name after `%s#`", c.Type.Name)
			a.Requester = c
		case p.isWord("on"):
			p.failHere("`on requester` follows a party's expression, before `and` or the clauses")
		case p.tok.Kind == tokIdent && !p.atMemberStart() && !p.isWord("definition") && !p.isWord("caveat"):
			if hint := suggest(p.tok.Text, []string{"for", "requester", "and"}); hint != "" {
				p.failHere("unexpected %s after the approval rule%s", p.tok.describe(), hint)
			}
			return
		default:
			return
		}
	}
}

// duration parses a duration token such as 90d; after names what precedes it.
func (p *parser) duration(after string) (time.Duration, string, Position) {
	pos := p.tok.Pos
	if p.tok.Kind != tokNumber {
		p.failHere("expected a duration such as `90d`, `12h` or `30m` after %s, found %s", after, p.tok.describe())
	}
	d, err := parseLifetime(p.tok.Text)
	if err != nil {
		p.failHere("invalid duration `%s`: %s", p.tok.Text, err)
	}
	text := p.tok.Text
	p.advance()
	return d, text, pos
}

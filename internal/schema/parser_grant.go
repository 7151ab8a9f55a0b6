package schema

// grant parses "grant REL[, REL...] by EXPR [expiring within DURATION]
// [while COND [and COND...]]".
func (p *parser) grant() *astGrant {
	g := &astGrant{Pos: p.tok.Pos, Comments: p.tok.Comments}
	start := p.tok.Off
	p.advance()
	for {
		g.Relations = append(g.Relations, p.expectIdent("a relation name after `grant`"))
		if p.tok.Kind != tokComma {
			break
		}
		p.advance()
	}
	if !p.isWord("by") {
		p.failHere("expected `by` and a permission expression after the relations of a grant rule, found %s", p.tok.describe())
	}
	p.advance()
	p.terms = 0
	g.Expr = p.expr()
	p.grantClauses(g)
	g.Text = p.src[start : p.prev.Off+len(p.prev.Text)]
	g.Last = p.prev.Pos
	return g
}

// grantClauses parses the optional clauses after a grant rule's expression, in
// either order: "expiring within DURATION" and "while COND [and COND...]".
func (p *parser) grantClauses(g *astGrant) {
	seenExpiring, seenWhile := false, false
	for {
		switch {
		case p.isWord("expiring"):
			if seenExpiring {
				p.failHere("the grant rule says `expiring within` twice")
			}
			seenExpiring = true
			p.expiring(g)
		case p.isWord("while"):
			if seenWhile {
				p.failHere("the grant rule says `while` twice: join the conditions with `and`")
			}
			seenWhile = true
			g.WhilePos = p.tok.Pos
			p.advance()
			p.conditions(g)
		case p.tok.Kind == tokIdent && !p.atMemberStart() && !p.isWord("definition") && !p.isWord("caveat"):
			if hint := suggest(p.tok.Text, []string{"expiring", "while"}); hint != "" {
				p.failHere("unexpected %s after the grant rule%s", p.tok.describe(), hint)
			}
			return
		default:
			return
		}
	}
}

func (p *parser) expiring(g *astGrant) {
	p.advance()
	if !p.isWord("within") {
		p.failHere("expected `within` after `expiring` (for example `expiring within 90d`), found %s", p.tok.describe())
	}
	p.advance()
	g.MaxLifetime, g.LifetimeText, g.LifetimePos = p.duration("`expiring within`")
}

// conditions parses "COND [and COND...]" after `while`, each COND being
// "grantee in TYPE#RELATION" or "grantor can grant".
func (p *parser) conditions(g *astGrant) {
	const forms = "`grantee in TYPE#RELATION` or `grantor can grant`"
	for {
		pos := p.tok.Pos
		switch {
		case p.isWord("grantee"):
			p.advance()
			p.keyword("in", "after `grantee` (for example `grantee in organization#member`)")
			c := &astCondition{Kind: GranteeIn, Pos: pos}
			c.Type = p.typePath("a definition name after `grantee in`")
			p.expect(tokHash, "after `grantee in %s` (write `%s#RELATION`)", c.Type.Name, c.Type.Name)
			c.Relation = p.expectIdent("a relation or permission name after `%s#`", c.Type.Name)
			g.Conditions = append(g.Conditions, c)
		case p.isWord("grantor"):
			p.advance()
			if !p.isWord("can") && p.tok.Kind == tokIdent {
				// Skip the rest of the phrase, so that its `grant` is not taken for
				// the start of the next rule.
				at, found, hint := p.tok.Pos, p.tok.describe(), suggest(p.tok.Text, []string{"can"})
				p.advance()
				if p.isWord("grant") {
					p.advance()
				}
				p.fail(at, "expected `can` after `grantor` (the condition is `grantor can grant`), found %s%s", found, hint)
			}
			p.keyword("can", "after `grantor` (the condition is `grantor can grant`)")
			p.keyword("grant", "after `grantor can` (the condition is `grantor can grant`)")
			g.Conditions = append(g.Conditions, &astCondition{Kind: GrantorCanGrant, Pos: pos})
		case len(g.Conditions) == 0 && (p.atMemberStart() || p.tok.Kind == tokRBrace || p.tok.Kind == tokEOF):
			p.fail(g.WhilePos, "`while` needs a condition after it: %s", forms)
		case p.tok.Kind == tokIdent && suggest(p.tok.Text, []string{"grantee", "grantor"}) != "":
			p.failHere("unknown condition %s%s: a condition is %s", p.tok.describe(), suggest(p.tok.Text, []string{"grantee", "grantor"}), forms)
		default:
			if len(g.Conditions) == 0 {
				p.failHere("`while` needs a condition: %s, found %s", forms, p.tok.describe())
			}
			p.failHere("expected a condition after `and`: %s, found %s", forms, p.tok.describe())
		}
		if !p.isWord("and") {
			return
		}
		p.advance()
	}
}

// keyword consumes the word w or fails, suggesting w when the token is a near miss.
func (p *parser) keyword(w, context string) {
	if p.isWord(w) {
		p.advance()
		return
	}
	hint := ""
	if p.tok.Kind == tokIdent {
		hint = suggest(p.tok.Text, []string{w})
	}
	p.failHere("expected `%s` %s, found %s%s", w, context, p.tok.describe(), hint)
}

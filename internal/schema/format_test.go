package schema

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// modelOptions compare compiled models while ignoring where things were written.
var modelOptions = cmp.Options{
	cmpopts.IgnoreFields(Schema{}, "Source"),
	cmpopts.IgnoreFields(Definition{}, "Pos"),
	cmpopts.IgnoreFields(Relation{}, "Pos"),
	cmpopts.IgnoreFields(Caveat{}, "Pos", "Program"),
	cmpopts.IgnoreFields(GrantRule{}, "Pos", "Text"),
	cmpopts.IgnoreFields(Dependency{}, "Pos"),
	cmpopts.IgnoreFields(ApprovalRule{}, "Pos", "Text"),
	cmpopts.IgnoreFields(Party{}, "Pos"),
	cmpopts.IgnoreFields(RequesterBinding{}, "Pos"),
	cmpopts.IgnoreFields(Computed{}, "Pos"),
	cmpopts.IgnoreFields(Arrow{}, "Pos"),
	cmpopts.EquateEmpty(),
}

// checkRoundTrip asserts Compile(Format(s)) == s and that Format is idempotent.
func checkRoundTrip(t *testing.T, name string, s *Schema) {
	t.Helper()
	out := Format(s)
	again, err := Compile(name+" (formatted)", out)
	if err != nil {
		t.Errorf("%s: formatted schema does not compile:\n%v\n--- formatted ---\n%s", name, err, out)
		return
	}
	if d := cmp.Diff(s, again, modelOptions); d != "" {
		t.Errorf("%s: model changed by formatting (-before +after):\n%s\n--- formatted ---\n%s", name, d, out)
		return
	}
	if out2 := Format(again); out2 != out {
		t.Errorf("%s: Format is not idempotent:\n%s\n--- then ---\n%s", name, out, out2)
	}
}

func TestFormatCorpusRoundTrip(t *testing.T) {
	n := 0
	for _, cs := range corpusSchemas(t) {
		s, err := Compile(cs.Path, cs.Schema)
		if err != nil {
			continue // the must-fail files; TestCorpusCompiles checks them
		}
		checkRoundTrip(t, cs.Path, s)
		n++
	}
	t.Logf("round-tripped %d corpus schemas", n)
}

func TestFormatCanonical(t *testing.T) {
	s := mustCompile(t, `use expiration
/**
 * People.
 *   * indented bullet
 */
definition user {}
caveat   ip_allowed( ip  ipaddress , cidrs list< string > ) {
	cidrs.exists(c, ip.in_cidr(c))
}
definition org { relation parent: org  relation admin: user | user with ip_allowed and expiration
  /** member */ relation member: user|org#member | user with expiration
  permission manage = admin + parent->manage
  permission view = (member + manage) & admin - parent.all(member) - (admin - member)
  grant member by manage expiring within 14d
  grant admin by manage expiring within 36h }`)
	want := `use expiration

/**
 * People.
 *   * indented bullet
 */
definition user {}

caveat ip_allowed(ip ipaddress, cidrs list<string>) {
	cidrs.exists(c, ip.in_cidr(c))
}

definition org {
	relation parent: org
	relation admin: user | user with ip_allowed and expiration
	/** member */
	relation member: user | org#member | user with expiration
	permission manage = admin + parent->manage
	permission view = ((member + manage) & admin) - parent.all(member) - (admin - member)

	grant member by manage expiring within 2w
	grant admin by manage expiring within 1d12h
}
`
	if got := Format(s); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	checkRoundTrip(t, "canonical", s)
}

// genSchema writes a random valid schema. Names are chosen so that the generated
// schema always compiles: arrows go over relations without wildcards to names that
// exist on the first subject type, permissions only use earlier permissions.
func genSchema(r *rand.Rand) string {
	g := newSchemaGen(r)
	for _, k := range r.Perm(len(g.defs) + len(g.cavs)) {
		if k >= len(g.defs) {
			g.caveat(g.cavs[k-len(g.defs)])
			continue
		}
		g.definition(k)
	}
	return g.b.String()
}

// genRel is a relation genSchema writes.
type genRel struct {
	name     string
	wildcard bool
	first    int // index of the first subject type
}

// schemaGen is the state of one genSchema: the names it chose up front and the
// text written so far. Every choice is drawn from r in the order the text needs it,
// so a seed always gives the same schema.
type schemaGen struct {
	r      *rand.Rand
	b      strings.Builder
	useExp bool
	cavs   []string
	defs   []string
	// rels lists each definition's relations.
	rels [][]genRel
}

func newSchemaGen(r *rand.Rand) *schemaGen {
	g := &schemaGen{r: r, useExp: r.Intn(2) == 0}
	if g.useExp {
		g.b.WriteString("use expiration\n\n")
	}
	g.cavs = make([]string, r.Intn(3))
	for i := range g.cavs {
		g.cavs[i] = fmt.Sprintf("cav%d", i)
	}
	nDef := 1 + r.Intn(6)
	g.defs = make([]string, nDef)
	for i := range g.defs {
		g.defs[i] = fmt.Sprintf("def%d", i)
		if r.Intn(3) == 0 {
			g.defs[i] = "acme/" + g.defs[i]
		}
	}
	// Every definition gets a plain relation "mem" (direct types only) that subject
	// relations and arrows can target safely.
	g.rels = make([][]genRel, nDef)
	for i := range g.defs {
		g.rels[i] = append(g.rels[i], genRel{name: "mem", first: 0})
		for j := 0; j < r.Intn(4); j++ {
			g.rels[i] = append(g.rels[i], genRel{name: fmt.Sprintf("rel%d", j), wildcard: r.Intn(4) == 0, first: r.Intn(nDef)})
		}
	}
	return g
}

// doc writes a doc comment, a plain comment or nothing.
func (g *schemaGen) doc(indent string) {
	switch g.r.Intn(5) {
	case 0:
		fmt.Fprintf(&g.b, "%s/** doc %d */\n", indent, g.r.Intn(100))
	case 1:
		fmt.Fprintf(&g.b, "%s/**\n%s * first line\n%s *\n%s * third %d\n%s */\n", indent, indent, indent, indent, g.r.Intn(9), indent)
	case 2:
		fmt.Fprintf(&g.b, "%s// plain comment\n", indent)
	}
}

func (g *schemaGen) caveat(name string) {
	g.doc("")
	fmt.Fprintf(&g.b, "caveat %s(num int, names list<string>, ok bool) {\n\tok || num > %d && \"x\" in names\n}\n\n", name, g.r.Intn(50))
}

// definition writes definition i: its relations, then permissions over them and
// earlier permissions, then grant rules.
func (g *schemaGen) definition(i int) {
	g.doc("")
	fmt.Fprintf(&g.b, "definition %s {\n", g.defs[i])
	var names []string
	for _, rl := range g.rels[i] {
		g.doc("\t")
		fmt.Fprintf(&g.b, "\trelation %s: %s\n", rl.name, strings.Join(g.relationTypes(rl), " | "))
		names = append(names, rl.name)
	}
	for j := 0; j < g.r.Intn(4); j++ {
		g.doc("\t")
		name := fmt.Sprintf("perm%d", j)
		fmt.Fprintf(&g.b, "\tpermission %s = %s\n", name, g.expr(i, names))
		names = append(names, name)
	}
	g.grants(i, names)
	g.b.WriteString("}\n\n")
}

// relationTypes chooses the subject types of relation rl: its first type, and for
// relations other than "mem" subject sets, caveats, expiration and a wildcard.
func (g *schemaGen) relationTypes(rl genRel) []string {
	r, defs := g.r, g.defs
	types := []string{defs[rl.first]}
	if rl.name != "mem" {
		for n := 0; n < r.Intn(3); n++ {
			t := defs[r.Intn(len(defs))]
			switch r.Intn(4) {
			case 0:
				t += "#mem"
			case 1:
				if len(g.cavs) > 0 {
					t += " with " + g.cavs[r.Intn(len(g.cavs))]
					if g.useExp && r.Intn(2) == 0 {
						t += " and expiration"
					}
				}
			case 2:
				if g.useExp {
					t += " with expiration"
				}
			}
			if !strings.Contains(strings.Join(types, "|"), t) {
				types = append(types, t)
			}
		}
		if rl.wildcard {
			types = append(types, defs[r.Intn(len(defs))]+":*")
		}
	}
	// Grant rules with a lifetime need an expiring subject type.
	if g.useExp && !strings.Contains(strings.Join(types, "|"), defs[rl.first]+" with expiration") {
		types = append(types, defs[rl.first]+" with expiration")
	}
	return types
}

// expr writes an expression over names on definition i.
func (g *schemaGen) expr(i int, names []string) string {
	e := g.leaf(i, names, 0)
	for n := 0; n < g.r.Intn(3); n++ {
		e += []string{" + ", " & ", " - "}[g.r.Intn(3)] + g.leaf(i, names, 1)
	}
	return e
}

// leaf writes a name, an arrow, nil or (below depth 4) a bracketed operation.
func (g *schemaGen) leaf(i int, names []string, depth int) string {
	r := g.r
	switch x := r.Intn(10); {
	case x < 4:
		return names[r.Intn(len(names))]
	case x < 6:
		// Arrow over a wildcard-free relation to "mem", which every type has.
		var candidates []genRel
		for _, rl := range g.rels[i] {
			if !rl.wildcard {
				candidates = append(candidates, rl)
			}
		}
		rl := candidates[r.Intn(len(candidates))]
		if r.Intn(3) == 0 {
			return rl.name + ".all(mem)"
		}
		if r.Intn(2) == 0 {
			return rl.name + ".any(mem)"
		}
		return rl.name + "->mem"
	case x < 7:
		return "nil"
	}
	if depth > 3 {
		return names[0]
	}
	ops := []string{" + ", " & ", " - "}
	return "(" + g.leaf(i, names, depth+1) + ops[r.Intn(3)] + g.leaf(i, names, depth+1) + ")"
}

// grants writes grant rules covering some of definition i's relations, each at most
// once.
func (g *schemaGen) grants(i int, names []string) {
	r := g.r
	var free []string
	for _, rl := range g.rels[i] {
		free = append(free, rl.name)
	}
	r.Shuffle(len(free), func(a, c int) { free[a], free[c] = free[c], free[a] })
	for len(free) > 0 && r.Intn(2) == 0 {
		n := 1 + r.Intn(len(free))
		fmt.Fprintf(&g.b, "\tgrant %s by %s", strings.Join(free[:n], ", "), g.expr(i, names))
		if g.useExp && r.Intn(2) == 0 {
			fmt.Fprintf(&g.b, " expiring within %d%s", 1+r.Intn(400), []string{"s", "m", "h", "d", "w"}[r.Intn(5)])
		}
		g.b.WriteString("\n")
		free = free[n:]
	}
}

func TestFormatGeneratedRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 300; i++ {
		src := genSchema(r)
		s, err := Compile(fmt.Sprintf("gen%d.zed", i), src)
		if err != nil {
			t.Fatalf("generated schema %d does not compile:\n%v\n--- source ---\n%s", i, err, src)
		}
		checkRoundTrip(t, fmt.Sprintf("generated %d", i), s)
	}
}

func TestFormatDocCommentEdges(t *testing.T) {
	for _, src := range []string{
		"/**\n * \u00a0indented by a no-break space\n */\ndefinition user {}",
		"/** * starts with a star */\ndefinition user {}",
		"/** one */\n/** two */\ndefinition user {}",
		"/**\n *\n * after a blank\n *\n */\ndefinition user {}",
		"caveat cav(n int) { \u00a0n > 1 }\ndefinition user {}",
	} {
		s, err := Compile("doc.zed", src)
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		checkRoundTrip(t, src, s)
	}
}

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
	var b strings.Builder
	useExp := r.Intn(2) == 0
	if useExp {
		b.WriteString("use expiration\n\n")
	}
	nCav := r.Intn(3)
	cavs := make([]string, nCav)
	for i := range cavs {
		cavs[i] = fmt.Sprintf("cav%d", i)
	}
	nDef := 1 + r.Intn(6)
	defs := make([]string, nDef)
	for i := range defs {
		defs[i] = fmt.Sprintf("def%d", i)
		if r.Intn(3) == 0 {
			defs[i] = "acme/" + defs[i]
		}
	}
	doc := func(indent string) {
		switch r.Intn(5) {
		case 0:
			fmt.Fprintf(&b, "%s/** doc %d */\n", indent, r.Intn(100))
		case 1:
			fmt.Fprintf(&b, "%s/**\n%s * first line\n%s *\n%s * third %d\n%s */\n", indent, indent, indent, indent, r.Intn(9), indent)
		case 2:
			fmt.Fprintf(&b, "%s// plain comment\n", indent)
		}
	}
	// Every definition gets a plain relation "mem" (direct types only) that subject
	// relations and arrows can target safely.
	type rel struct {
		name     string
		wildcard bool
		first    int // index of the first subject type
	}
	rels := make([][]rel, nDef)
	for i := range defs {
		rels[i] = append(rels[i], rel{name: "mem", first: 0})
		for j := 0; j < r.Intn(4); j++ {
			rels[i] = append(rels[i], rel{name: fmt.Sprintf("rel%d", j), wildcard: r.Intn(4) == 0, first: r.Intn(nDef)})
		}
	}
	order := r.Perm(nDef + nCav)
	for _, k := range order {
		if k >= nDef {
			c := cavs[k-nDef]
			doc("")
			fmt.Fprintf(&b, "caveat %s(num int, names list<string>, ok bool) {\n\tok || num > %d && \"x\" in names\n}\n\n", c, r.Intn(50))
			continue
		}
		i := k
		doc("")
		fmt.Fprintf(&b, "definition %s {\n", defs[i])
		var names []string
		for _, rl := range rels[i] {
			doc("\t")
			types := []string{defs[rl.first]}
			if rl.name != "mem" {
				for n := 0; n < r.Intn(3); n++ {
					t := defs[r.Intn(nDef)]
					switch r.Intn(4) {
					case 0:
						t += "#mem"
					case 1:
						if nCav > 0 {
							t += " with " + cavs[r.Intn(nCav)]
							if useExp && r.Intn(2) == 0 {
								t += " and expiration"
							}
						}
					case 2:
						if useExp {
							t += " with expiration"
						}
					}
					if !strings.Contains(strings.Join(types, "|"), t) {
						types = append(types, t)
					}
				}
				if rl.wildcard {
					types = append(types, defs[r.Intn(nDef)]+":*")
				}
			}
			// Grant rules with a lifetime need an expiring subject type.
			if useExp && !strings.Contains(strings.Join(types, "|"), defs[rl.first]+" with expiration") {
				types = append(types, defs[rl.first]+" with expiration")
			}
			fmt.Fprintf(&b, "\trelation %s: %s\n", rl.name, strings.Join(types, " | "))
			names = append(names, rl.name)
		}
		var leaf func(depth int) string
		leaf = func(depth int) string {
			switch x := r.Intn(10); {
			case x < 4:
				return names[r.Intn(len(names))]
			case x < 6:
				// Arrow over a wildcard-free relation to "mem", which every type has.
				var candidates []rel
				for _, rl := range rels[i] {
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
			return "(" + leaf(depth+1) + ops[r.Intn(3)] + leaf(depth+1) + ")"
		}
		expr := func() string {
			e := leaf(0)
			for n := 0; n < r.Intn(3); n++ {
				e += []string{" + ", " & ", " - "}[r.Intn(3)] + leaf(1)
			}
			return e
		}
		for j := 0; j < r.Intn(4); j++ {
			doc("\t")
			name := fmt.Sprintf("perm%d", j)
			fmt.Fprintf(&b, "\tpermission %s = %s\n", name, expr())
			names = append(names, name)
		}
		var free []string
		for _, rl := range rels[i] {
			free = append(free, rl.name)
		}
		r.Shuffle(len(free), func(a, c int) { free[a], free[c] = free[c], free[a] })
		for len(free) > 0 && r.Intn(2) == 0 {
			n := 1 + r.Intn(len(free))
			fmt.Fprintf(&b, "\tgrant %s by %s", strings.Join(free[:n], ", "), expr())
			if useExp && r.Intn(2) == 0 {
				fmt.Fprintf(&b, " expiring within %d%s", 1+r.Intn(400), []string{"s", "m", "h", "d", "w"}[r.Intn(5)])
			}
			b.WriteString("\n")
			free = free[n:]
		}
		b.WriteString("}\n\n")
	}
	return b.String()
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

package validation

// Random schemas and relationships for the property tests. A generated world is
// small (a handful of definitions, objects and relationships) so that the reference
// evaluator stays fast and failures shrink to something a person can read, but it
// uses every construct: relations with plain, wildcard, caveated, expiring and
// subject-set subjects; permissions with + & - -> .any .all and nil; recursion
// through arrows and subject sets, also through the subtracted side of an exclusion
// (where the data can form paradoxes), and cycles in the data.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// genDef is one generated definition.
type genDef struct {
	name        string
	relations   []genRelation
	permissions []genPermission
}

type genRelation struct {
	name    string
	allowed []string // as written after ':'
	link    bool     // holds plain objects of other definitions, for arrows
}

type genPermission struct {
	name string
	expr string
}

// world is a generated schema with its relationships.
type world struct {
	schemaText string
	defs       []genDef
	rels       []tuple.Relationship
	ids        map[string][]string // object ids per definition, "user" included
	// negative names the definition whose per0 subtracts its own per0 subject sets
	// (see addNegativeCycle), if one does; checks ask about it more often.
	negative string
}

var (
	genTypes   = []string{"doc", "grp", "org"}
	pastExpiry = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	farExpiry  = time.Date(2301, 1, 1, 0, 0, 0, 0, time.UTC)
)

// userKinds are the user subject types a relation may allow, as written.
var userKinds = []string{"user", "user:*", "user with flag", "user with limit", "user with expiration", "user with flag and expiration"}

// genWorld builds a random schema (not yet compiled; the caller draws again when it
// is refused) and relationships that fit it.
func genWorld(r *rand.Rand) *world {
	ndefs := 1 + r.IntN(len(genTypes))
	w := &world{ids: map[string][]string{"user": {"u0", "u1", "u2", "u3"}}}
	names := genTypes[:ndefs]
	for _, n := range names {
		w.ids[n] = []string{n[:1] + "0", n[:1] + "1", n[:1] + "2"}
	}
	// Every definition has rel0 and per0, so arrows and subject sets can always name
	// them on any definition; some have more.
	for _, n := range names {
		d := genDef{name: n}
		nrel := 1 + r.IntN(2)
		for i := 0; i < nrel; i++ {
			d.relations = append(d.relations, genUserRelation(r, fmt.Sprintf("rel%d", i), names))
		}
		if r.IntN(3) > 0 {
			var targets []string
			for _, t := range names {
				if len(targets) == 0 || r.IntN(3) == 0 {
					targets = append(targets, t)
				}
			}
			if r.IntN(2) == 0 {
				targets = []string{names[r.IntN(len(names))]}
			}
			allowed := slices.Clone(targets)
			if r.IntN(4) == 0 {
				allowed = append(allowed, targets[0]+" with flag")
			}
			d.relations = append(d.relations, genRelation{name: "link", allowed: allowed, link: true})
		}
		w.defs = append(w.defs, d)
	}
	for i := range w.defs {
		d := &w.defs[i]
		nperm := 1 + r.IntN(3)
		for j := 0; j < nperm; j++ {
			d.permissions = append(d.permissions, genPermission{name: fmt.Sprintf("per%d", j), expr: genExpr(r, d, j, 2)})
		}
	}
	if r.IntN(2) == 0 {
		addNegativeCycle(r, w, names)
	}
	w.schemaText = w.render()
	w.rels = genRelationships(r, w)
	if w.negative != "" {
		w.rels = append(w.rels, genNegativeCycle(r, w)...)
	}
	return w
}

// addNegativeCycle makes per0 of one definition subtract a relation that holds
// per0 subject sets, so that the data can define per0 through its own negation (a
// paradox) directly, across objects, or through the per0 of other definitions.
func addNegativeCycle(r *rand.Rand, w *world, names []string) {
	d := &w.defs[r.IntN(len(w.defs))]
	allowed := []string{d.name + "#per0"}
	if r.IntN(2) == 0 {
		allowed = append(allowed, "user")
	}
	if other := names[r.IntN(len(names))]; other != d.name {
		allowed = append(allowed, other+"#per0")
	}
	if r.IntN(3) == 0 {
		allowed = append(allowed, d.name+"#per0 with flag")
	}
	d.relations = append(d.relations, genRelation{name: "neg", allowed: allowed})
	w.negative = d.name
	switch base := d.permissions[0].expr; r.IntN(3) {
	case 0:
		d.permissions[0].expr = "(" + base + " - neg)"
	case 1:
		d.permissions[0].expr = "(rel0 - neg)"
	default:
		d.permissions[0].expr = "((rel0 - neg) + " + base + ")"
	}
}

// genNegativeCycle closes cycles through the subtracted relation of
// addNegativeCycle: each object's neg names the per0 of the next object (or its own),
// for the objects that do not say so already.
func genNegativeCycle(r *rand.Rand, w *world) []tuple.Relationship {
	ids := w.ids[w.negative]
	have := map[tuple.Key]bool{}
	for _, rl := range w.rels {
		have[rl.Key()] = true
	}
	var out []tuple.Relationship
	for i, id := range ids {
		next := ids[(i+r.IntN(2))%len(ids)]
		rl := tuple.Relationship{Resource: tuple.ObjectRef{Type: w.negative, ID: id}, Relation: "neg", Subject: tuple.SubjectRef{Type: w.negative, ID: next, Relation: "per0"}}
		if r.IntN(2) == 0 && !have[rl.Key()] {
			out = append(out, rl)
		}
	}
	return out
}

func genUserRelation(r *rand.Rand, name string, defs []string) genRelation {
	var allowed []string
	for _, k := range userKinds {
		if r.IntN(3) == 0 {
			allowed = append(allowed, k)
		}
	}
	if len(allowed) == 0 {
		allowed = []string{"user"}
	}
	for n := r.IntN(3); n > 0; n-- {
		target := defs[r.IntN(len(defs))]
		rel := []string{"rel0", "per0"}[r.IntN(2)]
		s := target + "#" + rel
		if !slices.Contains(allowed, s) {
			allowed = append(allowed, s)
		}
	}
	return genRelation{name: name, allowed: allowed}
}

// genExpr writes a permission expression for permission number self of d. It may
// name any relation of d, permissions of d written before it, and, through arrows,
// rel0 or per0 of the linked definitions (which can recurse through the data).
func genExpr(r *rand.Rand, d *genDef, self, depth int) string {
	if depth == 0 || r.IntN(3) == 0 {
		return genLeaf(r, d, self)
	}
	a, b := genExpr(r, d, self, depth-1), genExpr(r, d, self, depth-1)
	switch r.IntN(4) {
	case 0, 1:
		return "(" + a + " + " + b + ")"
	case 2:
		return "(" + a + " & " + b + ")"
	}
	return "(" + a + " - " + b + ")"
}

func genLeaf(r *rand.Rand, d *genDef, self int) string {
	var link *genRelation
	for i := range d.relations {
		if d.relations[i].link {
			link = &d.relations[i]
		}
	}
	choice := r.IntN(10)
	switch {
	case choice == 0:
		return "nil"
	case choice <= 3 && link != nil:
		target := []string{"rel0", "per0"}[r.IntN(2)]
		switch r.IntN(4) {
		case 0:
			return "link.all(" + target + ")"
		case 1:
			return "link.any(" + target + ")"
		}
		return "link->" + target
	case choice <= 5 && self > 0:
		return fmt.Sprintf("per%d", r.IntN(self))
	}
	var plain []string
	for _, rel := range d.relations {
		plain = append(plain, rel.name)
	}
	return plain[r.IntN(len(plain))]
}

func (w *world) render() string {
	var b strings.Builder
	b.WriteString("use expiration\n\ndefinition user {}\n\n")
	b.WriteString("caveat flag(on bool) {\n  on\n}\n\n")
	b.WriteString("caveat limit(n int, max int) {\n  n < max\n}\n\n")
	for _, d := range w.defs {
		fmt.Fprintf(&b, "definition %s {\n", d.name)
		for _, rel := range d.relations {
			fmt.Fprintf(&b, "  relation %s: %s\n", rel.name, strings.Join(rel.allowed, " | "))
		}
		for _, p := range d.permissions {
			fmt.Fprintf(&b, "  permission %s = %s\n", p.name, p.expr)
		}
		b.WriteString("}\n\n")
	}
	return b.String()
}

// genRelationships writes a few relationships for every relation of every object,
// each with a subject drawn from the relation's allowed types.
func genRelationships(r *rand.Rand, w *world) []tuple.Relationship {
	seen := map[tuple.Key]bool{}
	var out []tuple.Relationship
	for _, d := range w.defs {
		for _, id := range w.ids[d.name] {
			for _, rel := range d.relations {
				for n := r.IntN(3); n > 0; n-- {
					rl := tuple.Relationship{Resource: tuple.ObjectRef{Type: d.name, ID: id}, Relation: rel.name}
					genSubject(r, w, rel.allowed[r.IntN(len(rel.allowed))], &rl)
					if seen[rl.Key()] {
						continue
					}
					seen[rl.Key()] = true
					out = append(out, rl)
				}
			}
		}
	}
	return out
}

// genSubject fills the subject, caveat and expiry of rl from one allowed type.
func genSubject(r *rand.Rand, w *world, allowed string, rl *tuple.Relationship) {
	typ, traits, _ := strings.Cut(allowed, " with ")
	switch {
	case strings.HasSuffix(typ, ":*"):
		rl.Subject = tuple.SubjectRef{Type: strings.TrimSuffix(typ, ":*"), ID: tuple.Wildcard}
	case strings.Contains(typ, "#"):
		t, rel, _ := strings.Cut(typ, "#")
		rl.Subject = tuple.SubjectRef{Type: t, ID: w.ids[t][r.IntN(len(w.ids[t]))], Relation: rel}
	default:
		rl.Subject = tuple.SubjectRef{Type: typ, ID: w.ids[typ][r.IntN(len(w.ids[typ]))]}
	}
	for trait := range strings.SplitSeq(traits, " and ") {
		switch trait {
		case "flag":
			rl.Caveat = &tuple.Caveat{Name: "flag"}
			switch r.IntN(3) {
			case 0:
				rl.Caveat.Context = map[string]any{"on": true}
			case 1:
				rl.Caveat.Context = map[string]any{"on": false}
			}
		case "limit":
			rl.Caveat = &tuple.Caveat{Name: "limit"}
			if r.IntN(3) > 0 {
				rl.Caveat.Context = map[string]any{"max": 5}
			}
		case "expiration":
			rl.Expiration = farExpiry
			if r.IntN(3) == 0 {
				rl.Expiration = pastExpiry
			}
		}
	}
}

// checkContexts are the caveat contexts random checks send.
var checkContexts = []map[string]any{
	nil,
	{"on": true},
	{"on": false},
	{"n": 3},
	{"n": 7},
	{"on": true, "n": 3, "max": 4},
}

// genCheck is one random question.
type genCheck struct {
	resource   tuple.ObjectRef
	permission string
	subject    tuple.SubjectRef
	ctx        int // index into checkContexts
	// contextual relationships are sent with the check, used for it only.
	contextual []tuple.Relationship
}

func (c genCheck) String() string {
	s := c.resource.String() + "#" + c.permission + "@" + c.subject.String()
	if ctx := checkContexts[c.ctx]; ctx != nil {
		s += " with " + string(tuple.MarshalContext(ctx))
	}
	if len(c.contextual) > 0 {
		parts := make([]string, len(c.contextual))
		for i, r := range c.contextual {
			parts[i] = tuple.Format(r)
		}
		s += " and contextual relationships " + strings.Join(parts, ", ")
	}
	return s
}

// genContextual draws one or two relationships that are not stored, to send with check
// c as contextual relationships. The first is on c's resource and, when its relation
// allows, names c's subject, so that it often matters.
func genContextual(r *rand.Rand, w *world, stored []tuple.Relationship, c genCheck) []tuple.Relationship {
	taken := map[tuple.Key]bool{}
	for _, rl := range stored {
		taken[rl.Key()] = true
	}
	var out []tuple.Relationship
	for n := 1 + r.IntN(2); n > 0; n-- {
		d := w.defs[r.IntN(len(w.defs))]
		if len(out) == 0 {
			for _, dd := range w.defs {
				if dd.name == c.resource.Type {
					d = dd
				}
			}
		}
		rel := d.relations[r.IntN(len(d.relations))]
		rl := tuple.Relationship{Resource: tuple.ObjectRef{Type: d.name, ID: w.ids[d.name][r.IntN(len(w.ids[d.name]))]}, Relation: rel.name}
		genSubject(r, w, rel.allowed[r.IntN(len(rel.allowed))], &rl)
		if len(out) == 0 {
			rl.Resource = c.resource
			if rl.Subject.Type == c.subject.Type && rl.Subject.Relation == c.subject.Relation && !rl.Subject.IsWildcard() {
				rl.Subject.ID = c.subject.ID
			}
		}
		if !taken[rl.Key()] {
			taken[rl.Key()] = true
			out = append(out, rl)
		}
	}
	return out
}

// genChecks draws n questions: any relation or permission of any object, for a user
// (u4 appears in no relationship, so only wildcards can grant it) or a subject set.
func genChecks(r *rand.Rand, w *world, n int) []genCheck {
	out := make([]genCheck, 0, n)
	for range n {
		d := w.defs[r.IntN(len(w.defs))]
		names := d.memberNames()
		c := genCheck{
			resource:   tuple.ObjectRef{Type: d.name, ID: w.ids[d.name][r.IntN(len(w.ids[d.name]))]},
			permission: names[r.IntN(len(names))],
			ctx:        r.IntN(len(checkContexts)),
		}
		if w.negative != "" && r.IntN(3) == 0 {
			c.resource = tuple.ObjectRef{Type: w.negative, ID: w.ids[w.negative][r.IntN(len(w.ids[w.negative]))]}
			c.permission = "per0"
		}
		if r.IntN(4) == 0 {
			sd := w.defs[r.IntN(len(w.defs))]
			snames := sd.memberNames()
			c.subject = tuple.SubjectRef{Type: sd.name, ID: w.ids[sd.name][r.IntN(len(w.ids[sd.name]))], Relation: snames[r.IntN(len(snames))]}
		} else {
			c.subject = tuple.SubjectRef{Type: "user", ID: fmt.Sprintf("u%d", r.IntN(5))}
		}
		out = append(out, c)
	}
	return out
}

func (d genDef) memberNames() []string {
	var names []string
	for _, rel := range d.relations {
		names = append(names, rel.name)
	}
	for _, p := range d.permissions {
		names = append(names, p.name)
	}
	return names
}

// genMutation draws a write: touches of new random relationships and deletes of
// existing ones.
func genMutation(r *rand.Rand, w *world, current []tuple.Relationship) (touches, deletes []tuple.Relationship) {
	for n := 1 + r.IntN(3); n > 0; n-- {
		if len(current) > 0 && r.IntN(2) == 0 {
			deletes = append(deletes, current[r.IntN(len(current))])
			continue
		}
		d := w.defs[r.IntN(len(w.defs))]
		rel := d.relations[r.IntN(len(d.relations))]
		rl := tuple.Relationship{Resource: tuple.ObjectRef{Type: d.name, ID: w.ids[d.name][r.IntN(len(w.ids[d.name]))]}, Relation: rel.name}
		genSubject(r, w, rel.allowed[r.IntN(len(rel.allowed))], &rl)
		touches = append(touches, rl)
	}
	return touches, deletes
}

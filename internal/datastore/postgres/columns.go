package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// relColumnNames are the columns that hold a relationship, in the order relRow scans
// them: the key, then its traits (caveat, expiry, grant). relationships and
// transaction_changes both have them.
var relColumnNames = []string{
	"resource_type", "resource_id", "relation", "subject_type", "subject_id", "subject_relation",
	"caveat_name", "caveat_context", "expires_at",
	"granted_by_type", "granted_by_id", "granted_by_relation", "granted_via_type", "granted_via_id",
}

// relColumns is relColumnNames as a select or insert list.
var relColumns = strings.Join(relColumnNames, ", ")

// relColumnsOf is relColumnNames qualified by a table alias.
func relColumnsOf(alias string) string {
	return alias + "." + strings.Join(relColumnNames, ", "+alias+".")
}

// relRow receives the relColumns of one row.
type relRow struct {
	rel       tuple.Relationship
	caveat    *string
	caveatCtx []byte
	expires   *time.Time
	grant     [5]*string // by type, id, relation; via type, id
}

// dests returns the scan destinations of the relColumns, in order.
func (r *relRow) dests() []any {
	d := []any{&r.rel.Resource.Type, &r.rel.Resource.ID, &r.rel.Relation,
		&r.rel.Subject.Type, &r.rel.Subject.ID, &r.rel.Subject.Relation, &r.caveat, &r.caveatCtx, &r.expires}
	for i := range r.grant {
		d = append(d, &r.grant[i])
	}
	return d
}

// decode fills the relationship's traits from the scanned columns.
func (r *relRow) decode() (tuple.Relationship, error) {
	rel := r.rel
	if r.caveat != nil {
		rel.Caveat = &tuple.Caveat{Name: *r.caveat}
		if len(r.caveatCtx) > 0 {
			dec := json.NewDecoder(bytes.NewReader(r.caveatCtx))
			dec.UseNumber() // keep numbers as written, like the text form does
			if err := dec.Decode(&rel.Caveat.Context); err != nil {
				return rel, fmt.Errorf("stored caveat context of %s: %w", rel.Key(), err)
			}
		}
	}
	if r.expires != nil {
		rel.Expiration = r.expires.UTC()
	}
	g := r.grant
	if g[0] != nil {
		for _, c := range g {
			if c == nil {
				return rel, fmt.Errorf("stored grant of %s is incomplete", rel.Key())
			}
		}
		rel.Granted = &tuple.Grant{
			By:  tuple.SubjectRef{Type: *g[0], ID: *g[1], Relation: *g[2]},
			Via: tuple.ObjectRef{Type: *g[3], ID: *g[4]},
		}
	}
	return rel, nil
}

// scanRelationship reads the relColumns of one row.
func scanRelationship(row pgx.Row) (tuple.Relationship, error) {
	var r relRow
	if err := row.Scan(r.dests()...); err != nil {
		return r.rel, err
	}
	return r.decode()
}

// relArrays is a list of relationships as parallel arrays, one per relColumn, for
// unnest().
type relArrays struct {
	keys      keyArrays
	caveat    []*string
	caveatCtx []*string
	expires   []*time.Time
	grant     [5][]*string
}

func (a *relArrays) add(rel tuple.Relationship) {
	a.keys.add(rel.Key())
	t := traitsOf(rel)
	a.caveat = append(a.caveat, t.caveat)
	a.caveatCtx = append(a.caveatCtx, t.caveatCtx)
	a.expires = append(a.expires, t.expires)
	for i := range a.grant {
		a.grant[i] = append(a.grant[i], t.grant[i])
	}
}

// relTraits are a relationship's non-key columns as parameter values: the caveat's
// name and its context as JSON text, the expiry, and the grant (by type, id, relation;
// via type, id), each nil when absent.
type relTraits struct {
	caveat, caveatCtx *string
	expires           *time.Time
	grant             [5]*string
}

func traitsOf(rel tuple.Relationship) relTraits {
	var t relTraits
	if rel.Caveat != nil {
		name := rel.Caveat.Name
		t.caveat = &name
		if len(rel.Caveat.Context) > 0 {
			c := string(tuple.MarshalContext(rel.Caveat.Context))
			t.caveatCtx = &c
		}
	}
	if rel.HasExpiration() {
		e := rel.Expiration
		t.expires = &e
	}
	if gr := rel.Granted; gr != nil {
		t.grant = [5]*string{&gr.By.Type, &gr.By.ID, &gr.By.Relation, &gr.Via.Type, &gr.Via.ID}
	}
	return t
}

// args returns the arrays in relColumns order.
func (a *relArrays) args() []any {
	out := append(a.keys.args(), a.caveat, a.caveatCtx, a.expires)
	for _, g := range a.grant {
		out = append(out, g)
	}
	return out
}

// relUnnest selects the relColumns from relArrays passed as the parameters
// $first.. in args order: "SELECT <lead>, u.c1, ... FROM unnest(...) AS u (...)".
// lead is the list of leading expressions (tenant, revision, ...), and leadArrays
// names extra leading arrays (with their SQL types) that come before the relationship
// arrays, like the sequence numbers of changes.
func relUnnest(lead string, first int, leadArrays ...[2]string) string {
	types := []string{"TEXT[]", "TEXT[]", "TEXT[]", "TEXT[]", "TEXT[]", "TEXT[]", "TEXT[]", "TEXT[]", "TIMESTAMPTZ[]",
		"TEXT[]", "TEXT[]", "TEXT[]", "TEXT[]", "TEXT[]"}
	var params, names, sel []string
	n := first
	for _, la := range leadArrays {
		params = append(params, fmt.Sprintf("$%d::%s", n, la[1]))
		names = append(names, la[0])
		sel = append(sel, "u."+la[0])
		n++
	}
	for i, t := range types {
		params = append(params, fmt.Sprintf("$%d::%s", n, t))
		name := fmt.Sprintf("c%d", i)
		names = append(names, name)
		col := "u." + name
		if relColumnNames[i] == "caveat_context" {
			col += "::JSONB"
		}
		sel = append(sel, col)
		n++
	}
	return "SELECT " + lead + ", " + strings.Join(sel, ", ") + " FROM unnest(" + strings.Join(params, ", ") +
		") AS u (" + strings.Join(names, ", ") + ")"
}

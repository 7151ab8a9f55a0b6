// Package explain is the printable form of a check's explanation: the one JSON shape
// that `pemba check --explain -o json` and `pemba validate -o json` both print, and
// the JSON shape of a relationship every CLI output uses. The CLI builds it from the
// API's explanation, the validation runner from the engine's; both carry the same
// facts, so a script reads either the same way.
package explain

import (
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Node is one evaluated step of a check: a permission, a relation, an operator, an
// arrow, a relationship or a caveat.
type Node struct {
	Kind       string `json:"kind"`
	Resource   string `json:"resource,omitempty"`
	Relation   string `json:"relation,omitempty"`
	Expression string `json:"expression,omitempty"`
	Subject    string `json:"subject,omitempty"`
	// Result is "allowed", "denied" or "conditional".
	Result         string   `json:"result"`
	MissingContext []string `json:"missing_context,omitempty"`
	// Relationship is the relationship a relationship node followed.
	Relationship *Relationship `json:"relationship,omitempty"`
	// Provenance says who wrote Relationship, when the audit trail knows.
	Provenance *Provenance `json:"provenance,omitempty"`
	Caveat     string      `json:"caveat,omitempty"`
	Cached     bool        `json:"cached"`
	DurationMS float64     `json:"duration_ms"`
	Children   []*Node     `json:"children,omitempty"`
}

// Milliseconds is a duration as Node.DurationMS holds it: milliseconds to the
// microsecond.
func Milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Provenance says who wrote a relationship an answer relied on.
type Provenance struct {
	Token       string `json:"token,omitempty"`
	CommittedAt string `json:"committed_at,omitempty"`
	Principal   string `json:"principal,omitempty"`
	Actor       string `json:"actor,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Rule        string `json:"rule,omitempty"`
	Via         string `json:"via,omitempty"`
	// AccessRequest is the id of the access request whose approval wrote it.
	AccessRequest string `json:"access_request,omitempty"`
}

// Relationship is a relationship in JSON output: its text form and its parts.
type Relationship struct {
	Text            string         `json:"text"`
	ResourceType    string         `json:"resource_type"`
	ResourceID      string         `json:"resource_id"`
	Relation        string         `json:"relation"`
	SubjectType     string         `json:"subject_type"`
	SubjectID       string         `json:"subject_id"`
	SubjectRelation string         `json:"subject_relation,omitempty"`
	Caveat          string         `json:"caveat,omitempty"`
	CaveatContext   map[string]any `json:"caveat_context,omitempty"`
	ExpiresAt       string         `json:"expires_at,omitempty"`
	// GrantedBy and GrantedVia are set on a relationship a delegated write made: the
	// subject that granted it and the object its right came through.
	GrantedBy  string `json:"granted_by,omitempty"`
	GrantedVia string `json:"granted_via,omitempty"`
}

// NewRelationship returns the JSON form of a relationship.
func NewRelationship(r tuple.Relationship) *Relationship {
	out := &Relationship{
		Text:            tuple.Format(r),
		ResourceType:    r.Resource.Type,
		ResourceID:      r.Resource.ID,
		Relation:        r.Relation,
		SubjectType:     r.Subject.Type,
		SubjectID:       r.Subject.ID,
		SubjectRelation: r.Subject.Relation,
	}
	if r.Caveat != nil {
		out.Caveat = r.Caveat.Name
		out.CaveatContext = r.Caveat.Context
	}
	if r.HasExpiration() {
		out.ExpiresAt = r.Expiration.UTC().Format(time.RFC3339Nano)
	}
	if g := r.Granted; g != nil {
		out.GrantedBy, out.GrantedVia = g.By.String(), g.Via.String()
	}
	return out
}

package datastore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// SubjectEraser is a store that can erase a subject's identifier from its audit
// trail and decision log; every store of this module implements it.
type SubjectEraser interface {
	// PseudonymizeAudit replaces subject by pseudonym in every audit transaction of
	// the tenant (see PseudonymizeTransaction), while no write of the tenant commits,
	// and returns how many transactions it rewrote.
	PseudonymizeAudit(ctx context.Context, tenant string, subject, pseudonym tuple.ObjectRef) (int, error)
	// DeleteSubjectDecisions removes the tenant's decisions whose subject is the
	// object subject (any subject relation) and returns how many.
	DeleteSubjectDecisions(ctx context.Context, tenant string, subject tuple.ObjectRef) (int, error)
}

// RefusalRedactor is a store that applies a retention to refused writes: their
// records keep their place in the log (revision, time, key, operation, reason), so
// Watch and the hash chain of later exports are undisturbed, but lose what was
// attempted and the refusal's message. Every store of this module implements it.
type RefusalRedactor interface {
	// RedactRefusalsBefore redacts the tenant's refused writes committed before
	// before and returns how many it redacted.
	RedactRefusalsBefore(ctx context.Context, tenant string, before time.Time) (int, error)
}

// RedactedRefusal is the message a redacted refusal keeps.
const RedactedRefusal = "refused; the details were removed after the refusal retention"

// RedactRefusal returns a copy of tx without the attempted updates and with the
// message RedactedRefusal when tx is a refusal committed before before and not yet
// redacted; otherwise tx and false. The actor stays: it is who tried.
func RedactRefusal(tx *Transaction, before time.Time) (*Transaction, bool) {
	d := tx.Metadata.Denied
	if d == nil || !tx.Time.Before(before) || (d.Message == RedactedRefusal && len(d.Updates) == 0) {
		return tx, false
	}
	out := *tx
	out.Metadata.Denied = &Denial{Message: RedactedRefusal}
	return &out, true
}

// PseudonymizeTransaction replaces the object subject by pseudonym wherever tx
// names it: the actor, the organisations, the grant records, the changes (resource,
// subject and grantor of each relationship), the updates of a refusal, the record
// changes, and the text of the reason and of a refusal message. It returns a rewritten
// copy and true, or tx itself and false when tx does not name the subject. The copy
// shares nothing mutable with tx.
func PseudonymizeTransaction(tx *Transaction, subject, pseudonym tuple.ObjectRef) (*Transaction, bool) {
	p := pseudonymizer{from: subject, to: pseudonym, fromText: subject.String(), toText: pseudonym.String()}
	out := *tx
	m := &out.Metadata
	if m.Actor != nil {
		a := p.subject(*m.Actor)
		m.Actor = &a
	}
	m.Organizations = slices.Clone(m.Organizations)
	for i, o := range m.Organizations {
		m.Organizations[i] = p.object(o)
	}
	m.Grants = slices.Clone(m.Grants)
	for i := range m.Grants {
		g := &m.Grants[i]
		g.Relationship = p.key(g.Relationship)
		if g.Via != nil {
			v := p.object(*g.Via)
			g.Via = &v
		}
	}
	if d := m.Denied; d != nil {
		nd := &Denial{Message: p.text(d.Message), Updates: slices.Clone(d.Updates)}
		for i := range nd.Updates {
			nd.Updates[i].Relationship = p.relationship(nd.Updates[i].Relationship)
		}
		m.Denied = nd
	}
	m.Reason = p.text(m.Reason)
	out.Changes = slices.Clone(out.Changes)
	for i := range out.Changes {
		out.Changes[i].Relationship = p.relationship(out.Changes[i].Relationship)
	}
	out.RecordChanges = slices.Clone(out.RecordChanges)
	for i := range out.RecordChanges {
		r := &out.RecordChanges[i].Record
		r.ID = p.text(r.ID)
		r.Data = []byte(p.text(string(r.Data)))
		r.Keys = slices.Clone(r.Keys)
		for j, k := range r.Keys {
			r.Keys[j] = p.text(k)
		}
	}
	if !p.changed {
		return tx, false
	}
	return &out, true
}

// pseudonymizer rewrites one subject and remembers whether it met it.
type pseudonymizer struct {
	from, to         tuple.ObjectRef
	fromText, toText string
	changed          bool
}

func (p *pseudonymizer) object(o tuple.ObjectRef) tuple.ObjectRef {
	if o == p.from {
		p.changed = true
		return p.to
	}
	return o
}

func (p *pseudonymizer) subject(s tuple.SubjectRef) tuple.SubjectRef {
	if s.Object() == p.from {
		p.changed = true
		s.Type, s.ID = p.to.Type, p.to.ID
	}
	return s
}

func (p *pseudonymizer) key(k tuple.Key) tuple.Key {
	r := p.relationship(tuple.Relationship{
		Resource: tuple.ObjectRef{Type: k.ResourceType, ID: k.ResourceID}, Relation: k.Relation,
		Subject: tuple.SubjectRef{Type: k.SubjectType, ID: k.SubjectID, Relation: k.SubjectRel},
	})
	return r.Key()
}

func (p *pseudonymizer) relationship(r tuple.Relationship) tuple.Relationship {
	r.Resource = p.object(r.Resource)
	r.Subject = p.subject(r.Subject)
	if g := r.Granted; g != nil {
		ng := &tuple.Grant{By: p.subject(g.By), Via: p.object(g.Via)}
		r.Granted = ng
	}
	return r
}

// text replaces the subject's text form ("user:bob") where it stands as a whole
// reference: not inside a longer type name or id ("user:bobby", "superuser:bob").
func (p *pseudonymizer) text(s string) string {
	if !strings.Contains(s, p.fromText) {
		return s
	}
	var b strings.Builder
	last := 0 // s[:last] is written
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], p.fromText)
		if j < 0 {
			break
		}
		j += i
		end := j + len(p.fromText)
		if (j == 0 || !typeByte(s[j-1])) && (end == len(s) || !idByte(s[end])) {
			b.WriteString(s[last:j])
			b.WriteString(p.toText)
			last = end
			p.changed = true
		}
		i = j + 1
	}
	b.WriteString(s[last:])
	return b.String()
}

// typeByte reports whether c can be part of a type name, which ends just before a
// reference's ":".
func typeByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' }

// idByte reports whether c can continue an object id.
func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '/' || c == '_' || c == '|' || c == '-' || c == '=' || c == '+'
}

// PseudonymPrefix starts the id of every pseudonym, so a reader of the audit trail
// tells an erased subject from a real one.
const PseudonymPrefix = "pseudonym-"

// Pseudonym is the stable stand-in for an erased subject: the same type, and an id
// derived with HMAC-SHA256 under the server's secret from the subject's text form.
// The same subject always gets the same pseudonym (in every tenant, so erasures in
// several brands line up); without the secret it cannot be reversed or recomputed.
func Pseudonym(secret []byte, subject tuple.ObjectRef) tuple.ObjectRef {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("pemba-erasure-v1\x00" + subject.String()))
	return tuple.ObjectRef{Type: subject.Type, ID: PseudonymPrefix + hex.EncodeToString(mac.Sum(nil)[:16])}
}

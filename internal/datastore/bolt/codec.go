package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Flags of a relationship's optional parts.
const (
	flagExpiry = 1 << iota
	flagCaveat
	flagCaveatContext
	// flagGranted marks a delegated relationship's grantor and the object it granted
	// through. Records written before it existed lack the flag and decode with no
	// grant.
	flagGranted
)

// appendExtras appends a relationship's optional parts: a flag byte, the expiry, the
// caveat name and its context as JSON, and the grant.
func appendExtras(b []byte, r *tuple.Relationship) []byte {
	var flags byte
	if r.HasExpiration() {
		flags |= flagExpiry
	}
	if r.Granted != nil {
		flags |= flagGranted
	}
	var ctx []byte
	if r.Caveat != nil {
		flags |= flagCaveat
		if len(r.Caveat.Context) > 0 {
			flags |= flagCaveatContext
			ctx = tuple.MarshalContext(r.Caveat.Context)
		}
	}
	b = append(b, flags)
	if flags&flagExpiry != 0 {
		b = appendTime(b, r.Expiration)
	}
	if flags&flagCaveat != 0 {
		b = appendString(b, r.Caveat.Name)
		if flags&flagCaveatContext != 0 {
			b = appendBytes(b, ctx)
		}
	}
	if g := r.Granted; g != nil {
		b = appendString(appendString(appendString(b, g.By.Type), g.By.ID), g.By.Relation)
		b = appendObject(b, g.Via)
	}
	return b
}

// appendValue appends a rels/rrels value: the revision that deleted the version (0
// while live) and the relationship's optional parts.
func appendValue(b []byte, deleted datastore.Revision, r *tuple.Relationship) []byte {
	return appendExtras(binary.AppendUvarint(b, uint64(deleted)), r)
}

// valueDeleted returns a value's deleting revision and the rest of the value.
func valueDeleted(v []byte) (datastore.Revision, []byte, error) {
	d, n := binary.Uvarint(v)
	if n <= 0 || n >= len(v) {
		return 0, nil, errors.New("corrupt relationship value")
	}
	return datastore.Revision(d), v[n:], nil
}

// withDeleted returns a copy of value v marked deleted at rev.
func withDeleted(v []byte, rev datastore.Revision) ([]byte, error) {
	_, rest, err := valueDeleted(v)
	if err != nil {
		return nil, err
	}
	return append(binary.AppendUvarint(make([]byte, 0, len(rest)+10), uint64(rev)), rest...), nil
}

// extrasExpiry returns the expiry of encoded extras without decoding the caveat.
func extrasExpiry(ex []byte) (time.Time, bool) {
	if len(ex) >= 1+timeLen && ex[0]&flagExpiry != 0 {
		return readTime(ex[1:]), true
	}
	return time.Time{}, false
}

// expiredAt reports whether encoded extras carry an expiry at or before now.
func expiredAt(ex []byte, now time.Time) bool {
	at, ok := extrasExpiry(ex)
	return ok && !now.Before(at)
}

// decodeExtras fills r's optional parts from encoded extras.
func decodeExtras(ex []byte, r *tuple.Relationship) error {
	d := decoder{b: ex}
	d.extras(r)
	return d.err
}

// extras reads a relationship's optional parts (see appendExtras).
func (d *decoder) extras(r *tuple.Relationship) {
	flags := d.byte()
	if flags&flagExpiry != 0 {
		r.Expiration = d.time()
	}
	if flags&flagCaveat != 0 {
		d.caveat(r, flags)
	}
	if flags&flagGranted != 0 {
		by := tuple.SubjectRef{Type: d.string(), ID: d.string(), Relation: d.string()}
		r.Granted = &tuple.Grant{By: by, Via: d.object()}
	}
}

// caveat reads a relationship's caveat name and, when flags say so, its context.
func (d *decoder) caveat(r *tuple.Relationship, flags byte) {
	c := &tuple.Caveat{Name: d.string()}
	if flags&flagCaveatContext != 0 {
		raw := d.bytes()
		if d.err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&c.Context); err != nil && d.err == nil {
			d.err = fmt.Errorf("corrupt caveat context of %s: %v", r.Key(), err)
		}
	}
	r.Caveat = c
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decoder reads the length-prefixed encodings above; the first problem sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("corrupt record: truncated")
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of elements, each at least one byte long, so a corrupt count
// cannot make the caller allocate more than the record holds.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) time() time.Time {
	if len(d.b) < timeLen {
		d.fail()
		return time.Time{}
	}
	t := readTime(d.b)
	d.b = d.b[timeLen:]
	return t
}

func appendKey(b []byte, k tuple.Key) []byte {
	for _, s := range [...]string{k.ResourceType, k.ResourceID, k.Relation, k.SubjectType, k.SubjectID, k.SubjectRel} {
		b = appendString(b, s)
	}
	return b
}

func (d *decoder) key() tuple.Key {
	return tuple.Key{ResourceType: d.string(), ResourceID: d.string(), Relation: d.string(),
		SubjectType: d.string(), SubjectID: d.string(), SubjectRel: d.string()}
}

func appendObject(b []byte, o tuple.ObjectRef) []byte {
	return appendString(appendString(b, o.Type), o.ID)
}

func (d *decoder) object() tuple.ObjectRef {
	return tuple.ObjectRef{Type: d.string(), ID: d.string()}
}

// relFromKey builds the core of a relationship from its key.
func relFromKey(k tuple.Key) tuple.Relationship {
	return tuple.Relationship{
		Resource: tuple.ObjectRef{Type: k.ResourceType, ID: k.ResourceID}, Relation: k.Relation,
		Subject: tuple.SubjectRef{Type: k.SubjectType, ID: k.SubjectID, Relation: k.SubjectRel},
	}
}

// appendTransaction encodes a log record. The commit time comes first so readers can
// filter by time without decoding the rest.
func appendTransaction(b []byte, t *datastore.Transaction) []byte {
	b = appendTxHead(b, t)
	b = binary.AppendUvarint(b, uint64(len(t.Changes)))
	var prev []byte
	for i := range t.Changes {
		c := &t.Changes[i]
		k := c.Relationship.Key()
		fields := appendForwardFields(nil, &k)
		b = appendChange(b, prev, c.Kind, fields, appendExtras(nil, &c.Relationship))
		prev = fields
	}
	return appendRecordChanges(b, t.RecordChanges)
}

// appendTxHead encodes a log record up to its changes: time, metadata and schema.
func appendTxHead(b []byte, t *datastore.Transaction) []byte {
	b = appendTime(b, t.Time)
	m := &t.Metadata
	b = appendString(b, m.Principal)
	b = appendString(b, m.Reason)
	b = appendString(b, m.Operation)
	if m.Actor != nil {
		b = append(b, 1)
		b = appendString(appendString(appendString(b, m.Actor.Type), m.Actor.ID), m.Actor.Relation)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Organizations)))
	for _, o := range m.Organizations {
		b = appendObject(b, o)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Grants)))
	for _, g := range m.Grants {
		b = appendString(appendKey(b, g.Relationship), g.Rule)
		if g.Via != nil {
			b = appendObject(append(b, 1), *g.Via)
		} else {
			b = append(b, 0)
		}
	}
	if d := m.Denied; d != nil {
		b = appendString(append(b, 1), d.Message)
		b = binary.AppendUvarint(b, uint64(len(d.Updates)))
		for i := range d.Updates {
			u := &d.Updates[i]
			b = appendExtras(appendKey(append(b, byte(u.Op)), u.Relationship.Key()), &u.Relationship)
		}
	} else {
		b = append(b, 0)
	}
	if t.Schema != nil {
		b = appendString(append(b, 1), *t.Schema)
	} else {
		b = append(b, 0)
	}
	return b
}

// appendRecordChanges appends a log record's record changes after its relationship
// changes: nothing when there are none, so records of transactions without them (and
// every record written before records existed) end with the relationship changes.
func appendRecordChanges(b []byte, rcs []datastore.RecordChange) []byte {
	if len(rcs) == 0 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(rcs)))
	for _, c := range rcs {
		r := &c.Record
		if c.Deleted {
			b = appendString(appendString(append(b, 1), r.Kind), r.ID)
			continue
		}
		b = appendString(appendString(append(b, 0), r.Kind), r.ID)
		b = binary.AppendUvarint(b, uint64(len(r.Keys)))
		for _, k := range r.Keys {
			b = appendString(b, k)
		}
		b = appendBytes(b, r.Data)
	}
	return b
}

// recordChanges reads what appendRecordChanges wrote; rev is the record's revision.
func (d *decoder) recordChanges(rev datastore.Revision) []datastore.RecordChange {
	if len(d.b) == 0 || d.err != nil {
		return nil
	}
	out := make([]datastore.RecordChange, d.count())
	for i := range out {
		c := &out[i]
		c.Deleted = d.byte() == 1
		c.Record.Kind, c.Record.ID = d.string(), d.string()
		if c.Deleted {
			continue
		}
		c.Record.Revision = rev
		if n := d.count(); n > 0 {
			c.Record.Keys = make([]string, n)
			for j := range c.Record.Keys {
				c.Record.Keys[j] = d.string()
			}
		}
		c.Record.Data = bytes.Clone(d.bytes())
	}
	return out
}

// appendChange encodes one change of a log record: its kind, the key's encoded
// forward fields front-coded against the previous change's (changes are in key order,
// so neighbours share long prefixes) and the relationship's encoded extras.
func appendChange(b, prev []byte, kind datastore.ChangeKind, fields, extras []byte) []byte {
	shared := 0
	for shared < len(prev) && shared < len(fields) && prev[shared] == fields[shared] {
		shared++
	}
	b = binary.AppendUvarint(append(b, byte(kind)), uint64(shared))
	b = appendBytes(b, fields[shared:])
	return append(b, extras...)
}

// appendLogRecord encodes a log record whose changes are already encoded (n of them),
// the form commits write.
func appendLogRecord(b []byte, t *datastore.Transaction, n int, changes []byte) []byte {
	b = appendTxHead(b, t)
	b = append(binary.AppendUvarint(b, uint64(n)), changes...)
	return appendRecordChanges(b, t.RecordChanges)
}

// recordTime reads a log record's commit time.
func recordTime(v []byte) time.Time {
	if len(v) < timeLen {
		return time.Time{}
	}
	return readTime(v)
}

func decodeTransaction(rev datastore.Revision, v []byte) (*datastore.Transaction, error) {
	d := &decoder{b: v}
	t := &datastore.Transaction{Revision: rev, Time: d.time()}
	m := &t.Metadata
	m.Principal, m.Reason, m.Operation = d.string(), d.string(), d.string()
	if d.byte() == 1 {
		m.Actor = &tuple.SubjectRef{Type: d.string(), ID: d.string(), Relation: d.string()}
	}
	if n := d.count(); n > 0 {
		m.Organizations = make([]tuple.ObjectRef, n)
		for i := range m.Organizations {
			m.Organizations[i] = d.object()
		}
	}
	if n := d.count(); n > 0 {
		m.Grants = make([]datastore.GrantRecord, n)
		for i := range m.Grants {
			g := &m.Grants[i]
			g.Relationship, g.Rule = d.key(), d.string()
			if d.byte() == 1 {
				via := d.object()
				g.Via = &via
			}
		}
	}
	if d.byte() == 1 {
		den := &datastore.Denial{Message: d.string()}
		if n := d.count(); n > 0 {
			den.Updates = make([]datastore.Update, n)
			for i := range den.Updates {
				u := &den.Updates[i]
				u.Op = datastore.Operation(d.byte())
				u.Relationship = relFromKey(d.key())
				d.extras(&u.Relationship)
			}
		}
		m.Denied = den
	}
	if d.byte() == 1 {
		s := d.string()
		t.Schema = &s
	}
	if n := d.count(); n > 0 {
		t.Changes = make([]datastore.Change, n)
		var prev []byte
		for i := range t.Changes {
			c := &t.Changes[i]
			c.Kind = datastore.ChangeKind(d.byte())
			shared := d.uvarint()
			suffix := d.bytes()
			if d.err != nil || shared > uint64(len(prev)) {
				return nil, fmt.Errorf("log record %d: corrupt change %d", rev, i)
			}
			prev = append(prev[:shared], suffix...)
			var f [6]string
			if err := splitFields(prev, f[:]); err != nil {
				return nil, fmt.Errorf("log record %d: change %d: %v", rev, i, err)
			}
			c.Relationship = relFromKey(tuple.Key{ResourceType: f[0], ResourceID: f[1], Relation: f[2], SubjectType: f[3], SubjectID: f[4], SubjectRel: f[5]})
			d.extras(&c.Relationship)
			if d.err != nil {
				break
			}
		}
	}
	t.RecordChanges = d.recordChanges(rev)
	if d.err != nil {
		return nil, fmt.Errorf("log record %d: %v", rev, d.err)
	}
	return t, nil
}

// tenantRecord is a tenant's persistent state, stored under its name.
type tenantRecord struct {
	id        uint32
	createdAt time.Time
	head      datastore.Revision
	oldest    datastore.Revision // oldest readable revision
	txCount   int64              // audit records kept
	last      time.Time          // time of the newest commit
}

func (r *tenantRecord) encode() []byte {
	b := make([]byte, 0, 64)
	b = appendTenant(b, r.id)
	b = appendTime(b, r.createdAt)
	b = binary.AppendUvarint(b, uint64(r.head))
	b = binary.AppendUvarint(b, uint64(r.oldest))
	b = binary.AppendUvarint(b, uint64(r.txCount))
	return appendTime(b, r.last)
}

func decodeTenantRecord(v []byte) (tenantRecord, error) {
	if len(v) < tenantIDLen+timeLen {
		return tenantRecord{}, errors.New("corrupt tenant record")
	}
	r := tenantRecord{id: binary.BigEndian.Uint32(v)}
	d := decoder{b: v[tenantIDLen:]}
	r.createdAt = d.time()
	r.head = datastore.Revision(d.uvarint())
	r.oldest = datastore.Revision(d.uvarint())
	r.txCount = int64(d.uvarint())
	r.last = d.time()
	if d.err != nil {
		return tenantRecord{}, errors.New("corrupt tenant record")
	}
	return r, nil
}

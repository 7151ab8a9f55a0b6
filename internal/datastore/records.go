package datastore

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Record is a governance object the store keeps for a layer above it (an access
// request, for example): revisioned with the tenant's relationships, so a record and
// the relationships it leads to commit in one transaction, and read at a revision like
// them. The store does not look inside Data.
type Record struct {
	// Kind names the sort of record ("access_request"); records of different kinds
	// never meet.
	Kind string
	// ID identifies the record within its kind.
	ID string
	// Data is the caller's own encoding of the record (JSON, usually).
	Data []byte
	// Keys are secondary keys the caller chooses ("state=pending",
	// "approver-org=organization:acme"); ListRecords finds records by them.
	Keys []string
	// Revision is the revision the record was written at; the store sets it on reads
	// and ignores it on PutRecord.
	Revision Revision
}

// RecordQuery selects records of one kind for ListRecords. At most one of Key and
// KeyPrefix is set; with neither every record of the kind matches.
type RecordQuery struct {
	// Key keeps the records that have exactly this key.
	Key string
	// KeyPrefix keeps the records that have a key starting with this prefix.
	KeyPrefix string
	// AfterID resumes a listing: only records whose ID sorts after it are returned.
	AfterID string
	// Limit is the most records to return; 0 means no limit.
	Limit int
}

// Bounds of a record, so one record cannot take a store's memory or a page of its own.
const (
	MaxRecordData    = 64 << 10 // bytes of Record.Data
	MaxRecordKeys    = 16       // entries of Record.Keys
	MaxRecordKeyLen  = 512      // bytes of one key
	MaxRecordNameLen = 256      // bytes of Record.Kind and of Record.ID
)

// ValidateRecord checks a record before it is written: kind and id are non-empty
// UTF-8 without NUL bytes (some stores end names with one), and the data, the number
// of keys and each key are within the bounds. Errors wrap ErrInvalidArgument and name
// the record and the bound.
func ValidateRecord(r Record) error {
	if err := validateRecordName(r.Kind, r.ID); err != nil {
		return err
	}
	what := fmt.Sprintf("record %s/%s", r.Kind, r.ID)
	if len(r.Data) > MaxRecordData {
		return fmt.Errorf("%s: data is %d bytes, more than the %d bytes a record may hold: %w", what, len(r.Data), MaxRecordData, ErrInvalidArgument)
	}
	if len(r.Keys) > MaxRecordKeys {
		return fmt.Errorf("%s: %d keys, more than the %d a record may have: %w", what, len(r.Keys), MaxRecordKeys, ErrInvalidArgument)
	}
	for i, k := range r.Keys {
		if err := validateRecordString(fmt.Sprintf("%s: key %d", what, i), k, MaxRecordKeyLen); err != nil {
			return err
		}
	}
	return nil
}

// validateRecordName checks a record's kind and id.
func validateRecordName(kind, id string) error {
	if err := validateRecordString("record kind", kind, MaxRecordNameLen); err != nil {
		return err
	}
	return validateRecordString(fmt.Sprintf("record %s: id", kind), id, MaxRecordNameLen)
}

// ValidateRecordQuery checks a ListRecords query of kind.
func ValidateRecordQuery(kind string, q RecordQuery) error {
	if err := validateRecordString("record kind", kind, MaxRecordNameLen); err != nil {
		return err
	}
	switch {
	case q.Key != "" && q.KeyPrefix != "":
		return fmt.Errorf("record query: set Key or KeyPrefix, not both: %w", ErrInvalidArgument)
	case len(q.Key) > MaxRecordKeyLen || len(q.KeyPrefix) > MaxRecordKeyLen:
		return fmt.Errorf("record query: a key is at most %d bytes: %w", MaxRecordKeyLen, ErrInvalidArgument)
	case strings.IndexByte(q.Key+q.KeyPrefix+q.AfterID, 0) >= 0:
		return fmt.Errorf("record query: keys and ids contain no NUL byte: %w", ErrInvalidArgument)
	case q.Limit < 0:
		return fmt.Errorf("record query: limit %d is negative: %w", q.Limit, ErrInvalidArgument)
	}
	return nil
}

func validateRecordString(what, s string, maxLen int) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty: %w", what, ErrInvalidArgument)
	case len(s) > maxLen:
		return fmt.Errorf("%s is %d bytes, more than the %d allowed: %w", what, len(s), maxLen, ErrInvalidArgument)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8: %w", what, ErrInvalidArgument)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%s contains a NUL byte: %w", what, ErrInvalidArgument)
	}
	return nil
}

// Matches reports whether a record satisfies the query's key condition (AfterID and
// Limit are the caller's to apply).
func (q RecordQuery) Matches(r *Record) bool {
	switch {
	case q.Key != "":
		return slices.Contains(r.Keys, q.Key)
	case q.KeyPrefix != "":
		return slices.ContainsFunc(r.Keys, func(k string) bool { return strings.HasPrefix(k, q.KeyPrefix) })
	}
	return true
}

// RecordRef names one record.
type RecordRef struct{ Kind, ID string }

// PendingRecord is the buffered final state of one record in a transaction.
type PendingRecord struct {
	Record  Record // for a deletion only Kind and ID are set
	Deleted bool
}

// RecordWrites buffers a transaction's record writes: the final state of every record
// it put or deleted, in first-write order. Every store keeps one per transaction and
// applies Pending at commit. It is not safe for concurrent use.
type RecordWrites struct {
	entries []PendingRecord
	pos     map[RecordRef]int
}

// Put validates r and buffers it, replacing an earlier write of the same record. The
// record is copied, so the caller may reuse its slices.
func (w *RecordWrites) Put(r Record) error {
	if err := ValidateRecord(r); err != nil {
		return err
	}
	r.Data = slices.Clone(r.Data)
	r.Keys = slices.Clone(r.Keys)
	r.Revision = 0
	w.set(PendingRecord{Record: r})
	return nil
}

// Delete buffers the deletion of a record; deleting a missing record is a no-op.
func (w *RecordWrites) Delete(kind, id string) error {
	if err := validateRecordName(kind, id); err != nil {
		return err
	}
	w.set(PendingRecord{Record: Record{Kind: kind, ID: id}, Deleted: true})
	return nil
}

func (w *RecordWrites) set(p PendingRecord) {
	ref := RecordRef{p.Record.Kind, p.Record.ID}
	if i, ok := w.pos[ref]; ok {
		w.entries[i] = p
		return
	}
	if w.pos == nil {
		w.pos = map[RecordRef]int{}
	}
	w.pos[ref] = len(w.entries)
	w.entries = append(w.entries, p)
}

// Pending returns the buffered record writes in first-write order.
func (w *RecordWrites) Pending() []PendingRecord { return w.entries }

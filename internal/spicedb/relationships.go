package spicedb

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Format is the form a file of SpiceDB relationships is in.
type Format int

const (
	// FormatText is one relationship per line: Pemba's text form, SpiceDB's (the same
	// syntax) or the "resource relation subject" columns `zed relationship read` prints.
	FormatText Format = iota
	// FormatBackup is a backup file (`zed backup create`).
	FormatBackup
	// FormatJSON is a sequence of JSON objects of the v1 API, one after another and
	// each over any number of lines: what `zed relationship read --json` prints (read
	// responses), bare relationships, or bulk export responses.
	FormatJSON
)

// Detect tells a file's format from its first bytes. A file of Pemba's own JSON lines
// (flat objects with "text" or "resource_type") is FormatText: its lines are read as
// they are.
func Detect(prefix []byte) Format {
	if IsBackup(prefix) {
		return FormatBackup
	}
	trimmed := bytes.TrimLeftFunc(prefix, unicode.IsSpace)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return FormatText
	}
	// The v1 API nests objects: "resource": {...}, "relationship": {...} or
	// "relationships": [...]. Pemba's lines are flat, so a nested object or list right
	// after the first key tells the two apart.
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return FormatText
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return FormatText
		}
		name, _ := key.(string)
		next, err := dec.Token()
		if err != nil {
			return FormatText
		}
		if d, ok := next.(json.Delim); ok && (d == '{' || d == '[') {
			switch name {
			case "resource", "relationship", "relationships", "subject", "readAt", "read_at", "afterResultCursor", "after_result_cursor":
				return FormatJSON
			}
			return FormatText
		}
	}
	return FormatText
}

// ParseText reads one relationship in the column form `zed relationship read` prints,
// "document:1 viewer user:alice[caveat:{...}]"; a line in the text form proper
// ("document:1#viewer@user:alice") is read as it is.
func ParseText(line string) (tuple.Relationship, error) {
	line = strings.TrimSpace(line)
	res, rest, ok := cutSpace(line)
	if !ok {
		return tuple.Parse(line)
	}
	rel, subj, ok := cutSpace(rest)
	if !ok {
		return tuple.Relationship{}, fmt.Errorf("%q: want three columns (resource relation subject), got two", line)
	}
	return tuple.Parse(res + "#" + rel + "@" + subj)
}

// cutSpace splits s at its first run of white space.
func cutSpace(s string) (before, after string, ok bool) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimLeftFunc(s[i:], unicode.IsSpace), true
}

// maxJSONValue bounds one JSON object of a FormatJSON file.
const maxJSONValue = 4 << 20

// ReadJSON reads a FormatJSON file and calls each with every relationship in it, in
// order. An error names the object (counting from 1) that is wrong.
func ReadJSON(r io.Reader, each func(tuple.Relationship) error) error {
	dec := json.NewDecoder(bufio.NewReader(io.LimitReader(r, 1<<40)))
	opts := protojson.UnmarshalOptions{DiscardUnknown: true, RecursionLimit: 32}
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("JSON object %d: %w", n, err)
		}
		if len(raw) > maxJSONValue {
			return fmt.Errorf("JSON object %d is %d bytes, more than the %d one relationship object may have", n, len(raw), maxJSONValue)
		}
		rels, err := decodeObject(raw, opts)
		if err != nil {
			return fmt.Errorf("JSON object %d: %w", n, err)
		}
		for _, m := range rels {
			rel, err := FromV1(m)
			if err != nil {
				return fmt.Errorf("JSON object %d: %w", n, err)
			}
			if err := each(rel); err != nil {
				return err
			}
		}
	}
}

// decodeObject reads the relationships of one object of the v1 API: a read response,
// a bulk export response or a bare relationship.
func decodeObject(raw []byte, opts protojson.UnmarshalOptions) ([]*v1.Relationship, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	switch {
	case keys["relationship"] != nil:
		var m v1.ReadRelationshipsResponse
		if err := opts.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("not a read response of the v1 API: %w", err)
		}
		return []*v1.Relationship{m.GetRelationship()}, nil
	case keys["relationships"] != nil:
		var m v1.ExportBulkRelationshipsResponse
		if err := opts.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("not a bulk export response of the v1 API: %w", err)
		}
		return m.GetRelationships(), nil
	case keys["resource"] != nil:
		var m v1.Relationship
		if err := opts.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("not a relationship of the v1 API: %w", err)
		}
		return []*v1.Relationship{&m}, nil
	}
	return nil, errors.New(`holds none of "relationship", "relationships" or "resource": not a relationship object of the v1 API`)
}

// FromV1 turns a relationship of SpiceDB's v1 API into a validated Pemba one.
func FromV1(m *v1.Relationship) (tuple.Relationship, error) {
	if m.GetResource() == nil || m.GetSubject().GetObject() == nil {
		return tuple.Relationship{}, errors.New("a relationship needs a resource and a subject object")
	}
	rel := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: m.GetResource().GetObjectType(), ID: m.GetResource().GetObjectId()},
		Relation: m.GetRelation(),
		Subject: tuple.SubjectRef{
			Type:     m.GetSubject().GetObject().GetObjectType(),
			ID:       m.GetSubject().GetObject().GetObjectId(),
			Relation: m.GetSubject().GetOptionalRelation(),
		},
	}
	if c := m.GetOptionalCaveat(); c != nil {
		rel.Caveat = &tuple.Caveat{Name: c.GetCaveatName()}
		if ctx := c.GetContext().AsMap(); len(ctx) > 0 {
			rel.Caveat.Context = ctx
		}
	}
	if ts := m.GetOptionalExpiresAt(); ts != nil {
		rel.Expiration = ts.AsTime().UTC()
	}
	if err := tuple.Validate(rel); err != nil {
		return tuple.Relationship{}, fmt.Errorf("%s: %w", tuple.Format(rel), err)
	}
	return rel, nil
}

// ToV1 is FromV1's inverse: a Pemba relationship as SpiceDB's v1 API writes it. A
// relationship with a grant block has no SpiceDB form.
func ToV1(r tuple.Relationship) (*v1.Relationship, error) {
	if r.Granted != nil {
		return nil, fmt.Errorf("%s: SpiceDB has no delegated grants", tuple.Format(r))
	}
	m := &v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: r.Resource.Type, ObjectId: r.Resource.ID},
		Relation: r.Relation,
		Subject: &v1.SubjectReference{
			Object:           &v1.ObjectReference{ObjectType: r.Subject.Type, ObjectId: r.Subject.ID},
			OptionalRelation: r.Subject.Relation,
		},
	}
	if r.Caveat != nil {
		m.OptionalCaveat = &v1.ContextualizedCaveat{CaveatName: r.Caveat.Name}
		if r.Caveat.Context != nil {
			s, err := structpb.NewStruct(r.Caveat.Context)
			if err != nil {
				return nil, fmt.Errorf("%s: caveat context: %w", tuple.Format(r), err)
			}
			m.OptionalCaveat.Context = s
		}
	}
	if r.HasExpiration() {
		m.OptionalExpiresAt = timestamppb.New(r.Expiration)
	}
	return m, nil
}

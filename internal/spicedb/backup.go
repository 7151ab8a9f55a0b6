package spicedb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// A backup file is an Avro object container file. Its records are a union of two
// record types in one namespace: the first record holds the schema text, every later
// one a relationship. The revision the backup was taken at is in the file's metadata.
const (
	backupNamespace = "com.authzed.spicedb.backup"
	// RelationshipRecord and SchemaRecord are the full names of the record types.
	RelationshipRecord = backupNamespace + ".relationship_v1"
	SchemaRecord       = backupNamespace + ".schema_v1"
	// RevisionMetadata is the metadata key of the revision the backup was taken at.
	RevisionMetadata = "com.authzed.spicedb.zedtoken.v1"
)

// Bounds on what one backup may hold, so a damaged or hostile file cannot take the
// importer's memory: a schema or caveat context larger than this is refused.
const (
	maxBytes  = 16 << 20 // one byte or string field (the schema text is the largest)
	maxBlocks = 1 << 20  // relationships in one Avro block
)

// avroMagic starts every Avro object container file.
var avroMagic = []byte{'O', 'b', 'j', 1}

// IsBackup reports whether data, the start of a file, is an Avro object container (a
// backup file rather than relationships one per line).
func IsBackup(prefix []byte) bool { return bytes.HasPrefix(prefix, avroMagic) }

// BackupRelationship is a backup's relationship record. Fields a backup written by an
// older tool lacks (expiration) decode as their zero value.
type BackupRelationship struct {
	ObjectType        string    `avro:"object_type"`
	ObjectID          string    `avro:"object_id"`
	Relation          string    `avro:"relation"`
	SubjectObjectType string    `avro:"subject_object_type"`
	SubjectObjectID   string    `avro:"subject_object_id"`
	SubjectRelation   string    `avro:"subject_relation"`
	CaveatName        string    `avro:"caveat_name"`
	CaveatContext     []byte    `avro:"caveat_context"`
	Expiration        time.Time `avro:"expiration"`
}

// BackupSchema is a backup's schema record.
type BackupSchema struct {
	SchemaText string `avro:"schema_text"`
}

// backupConfig decodes backups with their record types registered, so a union
// decodes to the Go type of the branch it holds, within the byte bounds above.
var backupConfig = func() avro.API {
	api := avro.Config{MaxByteSliceSize: maxBytes, MaxSliceAllocSize: maxBlocks}.Freeze()
	api.Register(RelationshipRecord, BackupRelationship{})
	api.Register(SchemaRecord, BackupSchema{})
	return api
}()

// Backup reads a backup file's relationships in the order written, after its schema.
type Backup struct {
	// Schema is the schema text the backup holds, in SpiceDB's language (which Pemba's
	// is a superset of).
	Schema string
	// Revision is the SpiceDB revision (ZedToken) the backup was taken at, or "" when
	// the file does not record one.
	Revision string

	dec  *ocf.Decoder
	read int // relationships returned so far
}

// OpenBackup reads a backup's header and schema record. The error says what is wrong
// with a file that is not a backup.
func OpenBackup(r io.Reader) (*Backup, error) {
	dec, err := ocf.NewDecoder(r, ocf.WithDecoderConfig(backupConfig))
	if err != nil {
		return nil, fmt.Errorf("not a SpiceDB backup file (an Avro object container): %w", err)
	}
	b := &Backup{dec: dec, Revision: string(dec.Metadata()[RevisionMetadata])}
	if !dec.HasNext() {
		if err := dec.Error(); err != nil {
			return nil, fmt.Errorf("backup file: reading its first record: %w", err)
		}
		return nil, errors.New("backup file holds no records: it should start with a schema record")
	}
	var first any
	if err := dec.Decode(&first); err != nil {
		return nil, fmt.Errorf("backup file: decoding its first record: %w", err)
	}
	s, ok := first.(BackupSchema)
	if !ok {
		return nil, fmt.Errorf("backup file: the first record is a %T, not the schema record a backup starts with", first)
	}
	b.Schema = s.SchemaText
	return b, nil
}

// Next returns the next relationship, or io.EOF after the last. An error names the
// relationship (counting from 1) that could not be read.
func (b *Backup) Next() (tuple.Relationship, error) {
	if !b.dec.HasNext() {
		if err := b.dec.Error(); err != nil {
			return tuple.Relationship{}, fmt.Errorf("backup file: reading relationship %d: %w", b.read+1, err)
		}
		return tuple.Relationship{}, io.EOF
	}
	b.read++
	var rec any
	if err := b.dec.Decode(&rec); err != nil {
		return tuple.Relationship{}, fmt.Errorf("backup file: decoding relationship %d: %w", b.read, err)
	}
	flat, ok := rec.(BackupRelationship)
	if !ok {
		return tuple.Relationship{}, fmt.Errorf("backup file: relationship %d is a %T record, not a relationship (a backup holds one schema record, first)", b.read, rec)
	}
	rel, err := flat.relationship()
	if err != nil {
		return tuple.Relationship{}, fmt.Errorf("backup file: relationship %d: %w", b.read, err)
	}
	return rel, nil
}

// relationship turns a backup record into a validated relationship.
func (f BackupRelationship) relationship() (tuple.Relationship, error) {
	rel := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: f.ObjectType, ID: f.ObjectID},
		Relation: f.Relation,
		Subject:  tuple.SubjectRef{Type: f.SubjectObjectType, ID: f.SubjectObjectID, Relation: f.SubjectRelation},
	}
	if !f.Expiration.IsZero() {
		rel.Expiration = f.Expiration.UTC()
	}
	if f.CaveatName != "" {
		c := &tuple.Caveat{Name: f.CaveatName}
		if len(f.CaveatContext) > 0 {
			var s structpb.Struct
			if err := proto.Unmarshal(f.CaveatContext, &s); err != nil {
				return tuple.Relationship{}, fmt.Errorf("caveat %s: its context does not decode: %w", f.CaveatName, err)
			}
			if m := s.AsMap(); len(m) > 0 {
				c.Context = m
			}
		}
		rel.Caveat = c
	} else if len(f.CaveatContext) > 0 {
		return tuple.Relationship{}, errors.New("a caveat context without a caveat name")
	}
	if err := tuple.Validate(rel); err != nil {
		return tuple.Relationship{}, fmt.Errorf("%s: %w", tuple.Format(rel), err)
	}
	return rel, nil
}

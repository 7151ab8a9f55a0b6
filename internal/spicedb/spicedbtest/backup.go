// Package spicedbtest gives tests the real SpiceDB parts a migration meets: a SpiceDB
// server built from the module proxy and started on a loopback port, and backup files
// in the format SpiceDB's backup tool writes.
package spicedbtest

import (
	"bytes"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pemba-authz/pemba/internal/spicedb"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// writerSchema is the container schema of a backup: a union of the relationship record
// and the schema record. withExpiration false is the shape older tool versions wrote,
// before relationships could expire.
func writerSchema(withExpiration bool) string {
	expiration := ""
	if withExpiration {
		expiration = `,{"name":"expiration","type":{"type":"long","logicalType":"timestamp-millis"}}`
	}
	return `[{"type":"record","name":"relationship_v1","namespace":"com.authzed.spicedb.backup","fields":[
		{"name":"object_type","type":"string"},{"name":"object_id","type":"string"},
		{"name":"relation","type":"string"},{"name":"subject_object_type","type":"string"},
		{"name":"subject_object_id","type":"string"},{"name":"subject_relation","type":"string"},
		{"name":"caveat_name","type":"string"},{"name":"caveat_context","type":"bytes"}` + expiration + `]},
		{"type":"record","name":"schema_v1","namespace":"com.authzed.spicedb.backup","fields":[{"name":"schema_text","type":"string"}]}]`
}

// OldRelationship is a relationship record as older tool versions wrote it.
type OldRelationship struct {
	ObjectType        string `avro:"object_type"`
	ObjectID          string `avro:"object_id"`
	Relation          string `avro:"relation"`
	SubjectObjectType string `avro:"subject_object_type"`
	SubjectObjectID   string `avro:"subject_object_id"`
	SubjectRelation   string `avro:"subject_relation"`
	CaveatName        string `avro:"caveat_name"`
	CaveatContext     []byte `avro:"caveat_context"`
}

// Encode writes a backup file of the records as given, the way the backup tool does:
// snappy blocks, the revision in the metadata. Relationship records are
// spicedb.BackupRelationship values, or OldRelationship ones when withExpiration is
// false.
func Encode(t testing.TB, withExpiration bool, revision string, records ...any) []byte {
	t.Helper()
	sch := avro.MustParse(writerSchema(withExpiration))
	api := avro.Config{}.Freeze()
	if withExpiration {
		api.Register(spicedb.RelationshipRecord, spicedb.BackupRelationship{})
	} else {
		api.Register(spicedb.RelationshipRecord, OldRelationship{})
	}
	api.Register(spicedb.SchemaRecord, spicedb.BackupSchema{})
	var buf bytes.Buffer
	opts := []ocf.EncoderFunc{ocf.WithCodec(ocf.Snappy), ocf.WithEncodingConfig(api)}
	if revision != "" {
		opts = append(opts, ocf.WithMetadata(map[string][]byte{spicedb.RevisionMetadata: []byte(revision)}))
	}
	enc, err := ocf.NewEncoderWithSchema(sch, &buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			t.Fatalf("encoding %#v: %v", r, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Backup writes a backup of a schema and relationships in Pemba's text form.
func Backup(t testing.TB, schema, revision string, rels ...string) []byte {
	t.Helper()
	records := []any{spicedb.BackupSchema{SchemaText: schema}}
	for _, text := range rels {
		r, err := tuple.Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		rec := spicedb.BackupRelationship{
			ObjectType: r.Resource.Type, ObjectID: r.Resource.ID, Relation: r.Relation,
			SubjectObjectType: r.Subject.Type, SubjectObjectID: r.Subject.ID, SubjectRelation: r.Subject.Relation,
			Expiration: r.Expiration,
		}
		if r.Caveat != nil {
			rec.CaveatName = r.Caveat.Name
			if r.Caveat.Context != nil {
				rec.CaveatContext = CaveatContext(t, r.Caveat.Context)
			}
		}
		records = append(records, rec)
	}
	return Encode(t, true, revision, records...)
}

// CaveatContext encodes a caveat context as a backup record holds it: a protobuf
// Struct in its binary form.
func CaveatContext(t testing.TB, m map[string]any) []byte {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

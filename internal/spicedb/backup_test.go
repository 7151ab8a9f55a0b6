package spicedb_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/spicedb"
	"github.com/pemba-authz/pemba/internal/spicedb/spicedbtest"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func readAll(t *testing.T, data []byte) (*spicedb.Backup, []tuple.Relationship, error) {
	t.Helper()
	b, err := spicedb.OpenBackup(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	var out []tuple.Relationship
	for {
		r, err := b.Next()
		if errors.Is(err, io.EOF) {
			return b, out, nil
		}
		if err != nil {
			return b, out, err
		}
		out = append(out, r)
	}
}

const backupSchema = "definition user {}\n\ncaveat on_weekday(day string) {\n  day != \"saturday\"\n}\n\ndefinition document {\n  relation viewer: user | user with on_weekday | group#member\n}\n\ndefinition group {\n  relation member: user\n}\n"

func TestOpenBackup(t *testing.T) {
	expires := time.Date(2027, 3, 1, 12, 30, 0, 0, time.UTC)
	data := spicedbtest.Encode(t, true, "GhUKEzE3MzM", spicedb.BackupSchema{SchemaText: backupSchema},
		spicedb.BackupRelationship{ObjectType: "document", ObjectID: "plan", Relation: "viewer", SubjectObjectType: "user", SubjectObjectID: "alice"},
		spicedb.BackupRelationship{ObjectType: "document", ObjectID: "plan", Relation: "viewer", SubjectObjectType: "group", SubjectObjectID: "eng", SubjectRelation: "member"},
		spicedb.BackupRelationship{ObjectType: "document", ObjectID: "plan", Relation: "viewer", SubjectObjectType: "user", SubjectObjectID: "bob",
			CaveatName: "on_weekday", CaveatContext: spicedbtest.CaveatContext(t, map[string]any{"day": "monday"})},
		spicedb.BackupRelationship{ObjectType: "document", ObjectID: "memo", Relation: "viewer", SubjectObjectType: "user", SubjectObjectID: "carol", Expiration: expires},
		spicedb.BackupRelationship{ObjectType: "document", ObjectID: "memo", Relation: "viewer", SubjectObjectType: "user", SubjectObjectID: "dave", CaveatName: "on_weekday"},
	)
	b, rels, err := readAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if b.Schema != backupSchema || b.Revision != "GhUKEzE3MzM" {
		t.Errorf("schema %q, revision %q", b.Schema, b.Revision)
	}
	want := []string{
		"document:plan#viewer@user:alice",
		"document:plan#viewer@group:eng#member",
		`document:plan#viewer@user:bob[on_weekday:{"day":"monday"}]`,
		"document:memo#viewer@user:carol[expiration:2027-03-01T12:30:00Z]",
		"document:memo#viewer@user:dave[on_weekday]",
	}
	var got []string
	for _, r := range rels {
		got = append(got, tuple.Format(r))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relationships (-want +got):\n%s", diff)
	}
}

func TestOpenBackupWithoutExpirations(t *testing.T) {
	data := spicedbtest.Encode(t, false, "", spicedb.BackupSchema{SchemaText: backupSchema},
		spicedbtest.OldRelationship{ObjectType: "group", ObjectID: "eng", Relation: "member", SubjectObjectType: "user", SubjectObjectID: "erin"})
	b, rels, err := readAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if b.Revision != "" || len(rels) != 1 || tuple.Format(rels[0]) != "group:eng#member@user:erin" {
		t.Errorf("revision %q, relationships %v", b.Revision, rels)
	}
}

func TestOpenBackupErrors(t *testing.T) {
	good := spicedbtest.Encode(t, true, "", spicedb.BackupSchema{SchemaText: backupSchema},
		spicedb.BackupRelationship{ObjectType: "group", ObjectID: "eng", Relation: "member", SubjectObjectType: "user", SubjectObjectID: "erin"})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not avro", []byte("document:1#viewer@user:alice\n"), "not a SpiceDB backup file"},
		{"empty", []byte{}, "not a SpiceDB backup file"},
		{"no records", spicedbtest.Encode(t, true, ""), "holds no records"},
		{"relationship first", spicedbtest.Encode(t, true, "",
			spicedb.BackupRelationship{ObjectType: "group", ObjectID: "eng", Relation: "member", SubjectObjectType: "user", SubjectObjectID: "erin"}), "not the schema record"},
		{"second schema", spicedbtest.Encode(t, true, "", spicedb.BackupSchema{SchemaText: backupSchema}, spicedb.BackupSchema{SchemaText: backupSchema}), "relationship 1 is a spicedb.BackupSchema record"},
		{"bad id", spicedbtest.Encode(t, true, "", spicedb.BackupSchema{SchemaText: backupSchema},
			spicedb.BackupRelationship{ObjectType: "group", ObjectID: "eng", Relation: "member", SubjectObjectType: "user", SubjectObjectID: "erin"},
			spicedb.BackupRelationship{ObjectType: "group", ObjectID: "", Relation: "member", SubjectObjectType: "user", SubjectObjectID: "erin"}), "relationship 2"},
		{"bad caveat context", spicedbtest.Encode(t, true, "", spicedb.BackupSchema{SchemaText: backupSchema},
			spicedb.BackupRelationship{ObjectType: "group", ObjectID: "eng", Relation: "member", SubjectObjectType: "user", SubjectObjectID: "erin", CaveatName: "c", CaveatContext: []byte{0xff, 0xff}}), "context does not decode"},
		{"context without caveat", spicedbtest.Encode(t, true, "", spicedb.BackupSchema{SchemaText: backupSchema},
			spicedb.BackupRelationship{ObjectType: "group", ObjectID: "eng", Relation: "member", SubjectObjectType: "user", SubjectObjectID: "erin", CaveatContext: spicedbtest.CaveatContext(t, map[string]any{"a": 1.0})}), "without a caveat name"},
		{"truncated", good[:len(good)-5], "invalid block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzOpenBackup(f *testing.F) {
	f.Add([]byte("Obj\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := spicedb.OpenBackup(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			if _, err := b.Next(); err != nil {
				return
			}
		}
	})
}

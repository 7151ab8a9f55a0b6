package datastore

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestRelationshipFilterMatches(t *testing.T) {
	rel := tuple.MustParse("document:report-1#viewer@group:eng#member")
	cases := []struct {
		name   string
		filter RelationshipFilter
		want   bool
	}{
		{"empty filter", RelationshipFilter{}, true},
		{"resource type", RelationshipFilter{ResourceType: "document"}, true},
		{"other resource type", RelationshipFilter{ResourceType: "folder"}, false},
		{"resource id among several", RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"x", "report-1"}}, true},
		{"other resource ids", RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"x", "y"}}, false},
		{"resource id prefix", RelationshipFilter{ResourceIDPrefix: "report-"}, true},
		{"other resource id prefix", RelationshipFilter{ResourceIDPrefix: "memo-"}, false},
		{"relation", RelationshipFilter{Relation: "viewer"}, true},
		{"other relation", RelationshipFilter{Relation: "editor"}, false},
		{"subject type", RelationshipFilter{Subject: &SubjectFilter{Type: "group"}}, true},
		{"other subject type", RelationshipFilter{Subject: &SubjectFilter{Type: "user"}}, false},
		{"subject id", RelationshipFilter{Subject: &SubjectFilter{Type: "group", IDs: []string{"eng"}}}, true},
		{"other subject id", RelationshipFilter{Subject: &SubjectFilter{Type: "group", IDs: []string{"ops"}}}, false},
		{"subject relation", RelationshipFilter{Subject: &SubjectFilter{Type: "group", Relations: []string{"", "member"}}}, true},
		{"ellipsis only", RelationshipFilter{Subject: &SubjectFilter{Type: "group", Relations: []string{""}}}, false},
		{"everything", RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"report-1"}, ResourceIDPrefix: "rep", Relation: "viewer",
			Subject: &SubjectFilter{Type: "group", IDs: []string{"eng"}, Relations: []string{"member"}}}, true},
	}
	for _, c := range cases {
		if got := c.filter.Matches(rel); got != c.want {
			t.Errorf("%s: %v.Matches(%s) = %v, want %v", c.name, c.filter, tuple.Format(rel), got, c.want)
		}
	}
}

func TestSubjectFilterMatchesWildcardAndEllipsis(t *testing.T) {
	cases := []struct {
		name    string
		filter  SubjectFilter
		subject string
		want    bool
	}{
		{"plain subject, ellipsis wanted", SubjectFilter{Type: "user", Relations: []string{""}}, "user:alice", true},
		{"plain subject, a relation wanted", SubjectFilter{Type: "user", Relations: []string{"member"}}, "user:alice", false},
		{"wildcard id listed", SubjectFilter{Type: "user", IDs: []string{tuple.Wildcard}}, "user:*", true},
		{"wildcard id not listed", SubjectFilter{Type: "user", IDs: []string{"alice"}}, "user:*", false},
		{"any id", SubjectFilter{Type: "user"}, "user:*", true},
	}
	for _, c := range cases {
		rel := tuple.MustParse("document:d#viewer@" + c.subject)
		if got := c.filter.Matches(rel.Subject); got != c.want {
			t.Errorf("%s: Matches(%s) = %v, want %v", c.name, c.subject, got, c.want)
		}
	}
}

func TestRelationshipFilterValidate(t *testing.T) {
	long := strings.Repeat("x", tuple.MaxIDLength+1)
	cases := []struct {
		name   string
		filter RelationshipFilter
		field  string // "" when the filter is valid
	}{
		{"resource type only", RelationshipFilter{ResourceType: "document"}, ""},
		{"namespaced type", RelationshipFilter{ResourceType: "acme/document"}, ""},
		{"everything valid", RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a", "b"}, ResourceIDPrefix: "any thing", Relation: "viewer",
			Subject: &SubjectFilter{Type: "group", IDs: []string{"eng", tuple.Wildcard}, Relations: []string{"", "member"}}}, ""},
		{"no resource type", RelationshipFilter{}, "resource_type"},
		{"subject filter without resource type", RelationshipFilter{Subject: &SubjectFilter{Type: "user"}}, "resource_type"},
		{"bad resource type", RelationshipFilter{ResourceType: "Document"}, "resource_type"},
		{"bad third resource id", RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a", "b", "c d"}}, "resource_ids[2]"},
		{"empty resource id", RelationshipFilter{ResourceType: "document", ResourceIDs: []string{""}}, "resource_ids[0]"},
		{"long resource id", RelationshipFilter{ResourceType: "document", ResourceIDs: []string{long}}, "resource_ids[0]"},
		{"wildcard resource id", RelationshipFilter{ResourceType: "document", ResourceIDs: []string{tuple.Wildcard}}, "resource_ids[0]"},
		{"bad relation", RelationshipFilter{ResourceType: "document", Relation: "vi"}, "relation"},
		{"empty subject type", RelationshipFilter{ResourceType: "document", Subject: &SubjectFilter{}}, "subject_filter.type"},
		{"bad subject id", RelationshipFilter{ResourceType: "document", Subject: &SubjectFilter{Type: "user", IDs: []string{"ok", "not ok"}}}, "subject_filter.ids[1]"},
		{"bad subject relation", RelationshipFilter{ResourceType: "document", Subject: &SubjectFilter{Type: "user", Relations: []string{"", tuple.Ellipsis}}}, "subject_filter.relations[1]"},
	}
	for _, c := range cases {
		err := c.filter.Validate()
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: Validate() = %v, want nil", c.name, err)
			}
			continue
		}
		var ve *tuple.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: Validate() = %v, want a *tuple.ValidationError", c.name, err)
			continue
		}
		if ve.Field != c.field {
			t.Errorf("%s: the error names field %q, want %q", c.name, ve.Field, c.field)
		}
		if !errors.Is(err, ErrInvalidArgument) || !errors.Is(err, tuple.ErrInvalid) {
			t.Errorf("%s: %v does not match ErrInvalidArgument and tuple.ErrInvalid", c.name, err)
		}
		if !strings.HasPrefix(err.Error(), c.field+" ") {
			t.Errorf("%s: the message %q does not start with the field", c.name, err)
		}
	}
}

func TestSubjectFilterValidateIsRelativeToTheSubjectFilter(t *testing.T) {
	err := SubjectFilter{Type: "user", Relations: []string{"bad-name"}}.Validate()
	var ve *tuple.ValidationError
	if !errors.As(err, &ve) || ve.Field != "relations[0]" || ve.Value != "bad-name" {
		t.Fatalf("Validate() = %#v, want a ValidationError for relations[0]", err)
	}
}

func TestRelationshipFilterString(t *testing.T) {
	cases := []struct {
		filter RelationshipFilter
		want   string
	}{
		{RelationshipFilter{}, "{}"},
		{RelationshipFilter{ResourceType: "document"}, "{resource type document}"},
		{RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a", "b"}, ResourceIDPrefix: "x", Relation: "viewer"},
			"{resource type document; resource ids a,b; resource id prefix x; relation viewer}"},
		{RelationshipFilter{ResourceType: "document", Subject: &SubjectFilter{Type: "user"}}, "{resource type document; subject type user}"},
		{RelationshipFilter{Subject: &SubjectFilter{Type: "group", IDs: []string{"eng", "*"}, Relations: []string{"", "member"}}},
			"{subject type group ids eng,* relations ...,member}"},
	}
	for _, c := range cases {
		if got := c.filter.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestReverseCompare(t *testing.T) {
	// The relationships in the order reverse queries return them: by subject first.
	ordered := []string{
		"document:z#viewer@group:eng",
		"document:a#viewer@group:eng#member",
		"document:b#editor@group:eng#member",
		"document:b#viewer@group:eng#member",
		"document:a#viewer@user:alice",
		"folder:a#viewer@user:alice",
		"document:a#viewer@user:bob",
	}
	keys := make([]tuple.Key, len(ordered))
	for i, s := range ordered {
		keys[i] = tuple.MustParse(s).Key()
	}
	for i := range keys {
		for j := range keys {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := ReverseCompare(keys[i], keys[j]); got != want {
				t.Errorf("ReverseCompare(%s, %s) = %d, want %d", keys[i], keys[j], got, want)
			}
			if got := ReverseLess(keys[i], keys[j]); got != (want < 0) {
				t.Errorf("ReverseLess(%s, %s) = %v, want %v", keys[i], keys[j], got, want < 0)
			}
		}
	}
	shuffled := slices.Clone(keys)
	slices.Reverse(shuffled)
	slices.SortFunc(shuffled, ReverseCompare)
	if !slices.Equal(shuffled, keys) {
		t.Errorf("sorting by ReverseCompare gave %v, want %v", shuffled, keys)
	}
}

package schema

import (
	"slices"
	"testing"
)

func TestStructuralRelations(t *testing.T) {
	s, err := Compile("s.zed", `
definition user {}
definition organization {
	relation parent: organization
	relation admin: user
	permission manage = admin + parent->manage
	permission audit = parent.any(manage) & admin - parent->manage
	grant admin by manage
}
definition project {
	relation owner_org: organization
	relation viewer: user
	permission view = viewer + owner_org->manage
}`)
	if err != nil {
		t.Fatal(err)
	}
	got := s.StructuralRelations()
	if !slices.Equal(got["organization"], []string{"parent"}) || !slices.Equal(got["project"], []string{"owner_org"}) || len(got) != 2 {
		t.Errorf("StructuralRelations = %v, want organization: [parent], project: [owner_org]", got)
	}
}

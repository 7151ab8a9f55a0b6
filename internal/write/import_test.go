package write

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// A relationship the schema refuses is named by its place in the import, counted from
// 1, whichever batch it falls in; the batches before it stay committed.
func TestImportNamesTheRefusedRelationship(t *testing.T) {
	f := newFixture(t)
	f.w.cfg.ImportBatchSize = 2
	texts := []string{"group:g#member@user:a", "group:g#member@user:b", "group:g#member@user:c", "group:g#membr@user:d", "group:g#member@user:e"}
	rels := func(yield func(tuple.Relationship, error) bool) {
		for _, s := range texts {
			if !yield(tuple.MustParse(s), nil) {
				return
			}
		}
	}
	_, err := f.w.Import(context.Background(), Request{Tenant: tuple.DefaultTenant}, rels)
	var ie *ImportError
	if !errors.As(err, &ie) || ie.Committed != 2 || !strings.Contains(err.Error(), "relationship 4 (group:g#membr@user:d)") ||
		!strings.HasPrefix(err.Error(), "import stopped after 2 relationships were committed: ") {
		t.Fatalf("import with a refused 4th relationship: %v", err)
	}
}

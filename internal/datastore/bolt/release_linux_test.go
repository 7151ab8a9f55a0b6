package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// rssFileKB reads the file-backed part of this process's resident set.
func rssFileKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

func TestReleaseMappedPages(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, datastore.Options{})
	var ups []datastore.Update
	for i := range 60000 {
		ups = append(ups, datastore.Update{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:d%06d#viewer@user:u%06d", i, i%977))})
		if len(ups) == 5000 {
			if _, err := s.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
				return tx.WriteRelationships(ctx, ups)
			}); err != nil {
				t.Fatal(err)
			}
			ups = ups[:0]
		}
	}
	head, _ := s.HeadRevision(ctx, tuple.DefaultTenant)
	count := func() int {
		n := 0
		for _, err := range s.SnapshotReader(tuple.DefaultTenant, head).QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := count(); n != 60000 { // reads every page of the file
		t.Fatalf("%d relationships before", n)
	}
	before := rssFileKB(t)
	if err := s.ReleaseMappedPages(); err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if after >= before {
		t.Errorf("resident file pages %d kB before releasing, %d kB after", before, after)
	}
	if n := count(); n != 60000 {
		t.Fatalf("%d relationships after releasing the pages", n)
	}
	t.Logf("resident file pages: %d kB before, %d kB after", before, after)
}

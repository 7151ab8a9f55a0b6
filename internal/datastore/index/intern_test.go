package index

import (
	"strings"
	"testing"
	"unsafe"
)

// TestInternCopiesTheString: an id read out of a decoded key must not keep the whole
// key (or transaction) buffer alive for as long as the index holds the id.
func TestInternCopiesTheString(t *testing.T) {
	tb := newTable(0)
	buf := strings.Repeat("x", 4096) + "|document-1|"
	id := buf[4097 : 4097+len("document-1")]
	n := tb.intern(id)
	got := tb.strs[n]
	if got != "document-1" {
		t.Fatalf("interned %q, want document-1", got)
	}
	if unsafe.StringData(got) == unsafe.StringData(id) {
		t.Error("the interned string shares the caller's buffer")
	}
	if again := tb.intern("document-1"); again != n {
		t.Errorf("interning the same id again gave %d, want %d", again, n)
	}
}

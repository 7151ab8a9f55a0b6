package datastore

import (
	"testing"
	"time"
)

func TestOperationNames(t *testing.T) {
	for op, want := range map[Operation]string{OpCreate: "create", OpTouch: "touch", OpDelete: "delete", 0: "unknown", 99: "unknown"} {
		if got := op.String(); got != want {
			t.Errorf("Operation(%d).String() = %q, want %q", op, got, want)
		}
	}
}

func TestOptionsWithDefaults(t *testing.T) {
	d := Options{}.WithDefaults()
	if d.GCWindow != DefaultGCWindow || d.QuantizationWindow != DefaultQuantizationWindow || d.AuditRetention != 0 || d.Now == nil {
		t.Fatalf("zero options with defaults: %+v", d)
	}
	clock := func() time.Time { return time.Unix(5, 0) }
	set := Options{GCWindow: time.Hour, QuantizationWindow: time.Second, AuditRetention: 48 * time.Hour, Now: clock}.WithDefaults()
	if set.GCWindow != time.Hour || set.QuantizationWindow != time.Second || set.AuditRetention != 48*time.Hour || !set.Now().Equal(time.Unix(5, 0)) {
		t.Fatalf("set options were changed: %+v", set)
	}
}

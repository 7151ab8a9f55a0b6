package auditexport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// receiver is a real HTTP webhook receiver that keeps, in arrival order, every
// record of every batch it accepted.
type receiver struct {
	mu       sync.Mutex
	fail     int           // answer 500 to this many requests first
	delay    time.Duration // answer this late
	attempts int
	got      []Record
	types    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.attempts++
	fail := rc.fail > 0
	if fail {
		rc.fail--
	}
	rc.mu.Unlock()
	time.Sleep(rc.delay)
	if fail {
		http.Error(w, "receiver broken", http.StatusInternalServerError)
		return
	}
	// Only an intact chain is accepted; then its records are kept.
	if rep, err := Verify(bytes.NewReader(body)); err != nil || !rep.OK() {
		http.Error(w, "bad batch", http.StatusBadRequest)
		return
	}
	var recs []Record
	switch r.Header.Get("Content-Type") {
	case ContentTypeCloudEvent:
		rec, _ := Decode(body)
		recs = append(recs, rec)
	case ContentTypeCloudEventBatch:
		var raws []json.RawMessage
		_ = json.Unmarshal(body, &raws)
		for _, raw := range raws {
			rec, _ := Decode(raw)
			recs = append(recs, rec)
		}
	default:
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			rec, _ := Decode(line)
			recs = append(recs, rec)
		}
	}
	rc.mu.Lock()
	rc.got = append(rc.got, recs...)
	rc.types = append(rc.types, r.Header.Get("Content-Type"))
	rc.mu.Unlock()
}

func batches(t *testing.T, n, size int) [][]Record {
	var c Chain
	var out [][]Record
	for i := 0; i < n; i++ {
		var b []Record
		for j := 0; j < size; j++ {
			r, err := c.Append(KindDecision, map[string]any{"tenant": "t", "decided_at": "2026-12-03T10:00:00Z", "i": i*size + j})
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, r)
		}
		out = append(out, b)
	}
	return out
}

func checkAll(t *testing.T, got []Record, want int) {
	t.Helper()
	if len(got) != want {
		t.Fatalf("receiver kept %d records, want %d", len(got), want)
	}
	for i, r := range got {
		if r.Seq != uint64(i) {
			t.Fatalf("record %d has seq %d: order lost", i, r.Seq)
		}
	}
}

func TestWebhookRetriesUntilAccepted(t *testing.T) {
	for _, f := range []Format{JSONLines, CloudEvents} {
		rc := &receiver{fail: 3}
		srv := httptest.NewServer(rc)
		var retries int
		w := &Webhook{URL: srv.URL, Format: f, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
			OnRetry: func(int, error, time.Duration) { retries++ }}
		for _, b := range batches(t, 4, 3) {
			if err := w.Send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
		srv.Close()
		checkAll(t, rc.got, 12)
		if retries != 3 || rc.attempts != 7 {
			t.Fatalf("%s: %d retries in %d attempts, want 3 in 7", f, retries, rc.attempts)
		}
		if f == CloudEvents && rc.types[0] != ContentTypeCloudEventBatch {
			t.Fatalf("cloudevents batch sent as %s", rc.types[0])
		}
	}
}

// TestWebhookReceiverDown starts with nothing listening on the address; the
// receiver comes up later and gets everything, in order.
func TestWebhookReceiverDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // down: connections are refused
	rc := &receiver{}
	w := &Webhook{URL: "http://" + addr, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	var failed int
	w.OnRetry = func(attempt int, err error, _ time.Duration) {
		failed++
		if failed == 5 { // bring the receiver up on the same address
			l2, err := net.Listen("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			srv := &http.Server{Handler: rc, ReadHeaderTimeout: time.Second}
			go srv.Serve(l2)
			t.Cleanup(func() { srv.Close() })
		}
	}
	for _, b := range batches(t, 3, 2) {
		if err := w.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if failed < 5 {
		t.Fatalf("only %d failed attempts while the receiver was down", failed)
	}
	checkAll(t, rc.got, 6)
}

// TestWebhookSlowReceiver answers after the client's timeout first: the batch is
// sent again, and the duplicates are only ever of whole batches, in order.
func TestWebhookSlowReceiver(t *testing.T) {
	rc := &receiver{delay: 60 * time.Millisecond}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w := &Webhook{URL: srv.URL, Client: &http.Client{Timeout: 30 * time.Millisecond}, MinBackoff: time.Millisecond, MaxAttempts: 3}
	err := w.Send(context.Background(), batches(t, 1, 2)[0])
	if err == nil {
		t.Fatal("a receiver slower than the timeout accepted in time")
	}
	rc.mu.Lock()
	rc.delay = 5 * time.Millisecond
	rc.got = nil
	rc.mu.Unlock()
	w.Client = &http.Client{Timeout: time.Second}
	for _, b := range batches(t, 3, 2) {
		if err := w.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	checkAll(t, rc.got, 6)
}

func TestWebhookPermanentRefusalAndCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad token", http.StatusUnauthorized)
	}))
	defer srv.Close()
	w := &Webhook{URL: srv.URL, MinBackoff: time.Millisecond}
	var perm *PermanentError
	if err := w.Send(context.Background(), batches(t, 1, 1)[0]); !errors.As(err, &perm) || perm.Status != 401 {
		t.Fatalf("401: %v", err)
	}
	down := &Webhook{URL: "http://127.0.0.1:1", MinBackoff: 5 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := down.Send(ctx, batches(t, 1, 1)[0]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled delivery: %v", err)
	}
}

package auditexport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Webhook delivers batches of records to an HTTP endpoint with POST, retrying with
// exponential back-off until the receiver answers 2xx. Delivery is at-least-once: a
// batch whose answer was lost is sent again, so receivers deduplicate by seq (or the
// CloudEvents id, which is the record's hash). The zero value of every field but URL
// has a working default.
type Webhook struct {
	URL    string
	Format Format // JSONLines (default) or CloudEvents
	// Header is added to every request, e.g. Authorization. It is never logged.
	Header http.Header
	Client *http.Client // default: one with a 10 s timeout
	// MinBackoff (default 200 ms) doubles after every failed attempt up to
	// MaxBackoff (default 30 s).
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts bounds the attempts for one batch; 0 means until ctx ends.
	MaxAttempts int
	// OnRetry, when set, hears about every failed attempt before the wait.
	OnRetry func(attempt int, err error, wait time.Duration)
}

// PermanentError is a refusal that sending again will not change (a 4xx other
// than 408 and 429).
type PermanentError struct {
	Status int
	Body   string
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("webhook refused the batch with HTTP %d: %s", e.Status, e.Body)
}

// Body encodes a batch as the webhook sends it and returns its content type:
// JSON lines, or for CloudEvents a batch-mode JSON array (one event alone is sent
// as a single structured-mode event).
func Body(f Format, batch []Record) ([]byte, string, error) {
	var buf bytes.Buffer
	if f == CloudEvents {
		if len(batch) == 1 {
			line, err := Encode(f, batch[0])
			return line, ContentTypeCloudEvent, err
		}
		buf.WriteByte('[')
		for i, r := range batch {
			if i > 0 {
				buf.WriteByte(',')
			}
			line, err := Encode(f, r)
			if err != nil {
				return nil, "", err
			}
			buf.Write(line)
		}
		buf.WriteByte(']')
		return buf.Bytes(), ContentTypeCloudEventBatch, nil
	}
	for _, r := range batch {
		line, err := Encode(JSONLines, r)
		if err != nil {
			return nil, "", err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), ContentTypeJSONLines, nil
}

// Send delivers one batch, retrying until it is accepted, MaxAttempts is reached,
// the receiver refuses it permanently, or ctx ends.
func (w *Webhook) Send(ctx context.Context, batch []Record) error {
	if len(batch) == 0 {
		return nil
	}
	f := w.Format
	if f == "" {
		f = JSONLines
	}
	body, contentType, err := Body(f, batch)
	if err != nil {
		return err
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	wait, maxWait := w.MinBackoff, w.MaxBackoff
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	for attempt := 1; ; attempt++ {
		err := w.post(ctx, client, body, contentType)
		var perm *PermanentError
		if err == nil || errors.As(err, &perm) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("webhook delivery of seq %d to %d stopped: %w (last error: %v)", batch[0].Seq, batch[len(batch)-1].Seq, ctx.Err(), err)
		}
		if w.MaxAttempts > 0 && attempt >= w.MaxAttempts {
			return fmt.Errorf("webhook delivery of seq %d to %d failed after %d attempts: %w", batch[0].Seq, batch[len(batch)-1].Seq, attempt, err)
		}
		if w.OnRetry != nil {
			w.OnRetry(attempt, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("webhook delivery of seq %d to %d stopped: %w (last error: %v)", batch[0].Seq, batch[len(batch)-1].Seq, ctx.Err(), err)
		case <-t.C:
		}
		if wait *= 2; wait > maxWait {
			wait = maxWait
		}
	}
}

func (w *Webhook) post(ctx context.Context, client *http.Client, body []byte, contentType string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{Body: err.Error()}
	}
	for k, vs := range w.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", contentType)
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case res.StatusCode == http.StatusRequestTimeout || res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return fmt.Errorf("webhook answered HTTP %d: %s", res.StatusCode, bytes.TrimSpace(msg))
	default:
		return &PermanentError{Status: res.StatusCode, Body: string(bytes.TrimSpace(msg))}
	}
}
